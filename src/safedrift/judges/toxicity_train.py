"""Train the offline toxicity judge's head, a classifier on sentence embeddings of

- ToxiGen's demonstration statements (hate = 1, neutral = 0), labelled by the file they come
  from (microsoft/TOXIGEN prompts, MIT licence): implicit hate against 16 groups, and neutral
  statements that include counter-speech;
- DecodingTrust's toxicity prompts (RealToxicityPrompts web text, CC-BY-SA-4.0), labelled by
  their Perspective toxicity (≥ 0.5 = 1, < 0.1 = 0, the texts in between left out): profanity,
  insults and sexual content, which ToxiGen lacks. A fixed fifth of the documents
  (crc32(filename) % 5 == 0) never enters training, so the shipped head can be measured on
  prompts and continuations it never saw (benchmarks/toxicity_judge.py, the tests);
- optionally (`--labelled`), hand-labelled continuations of ToxiGen prompts by small models
  (benchmarks/data/toxicity_labels*.csv): the first statement of each, with the label of the
  whole continuation. Models summarise and answer ("The passage discusses the traits of the
  Jewish race, including greed…", "The answer is: …"), which no statement list contains; the
  shipped head uses the two Qwen2.5-Coder sets and leaves the SmolLM2 set out, to validate on.

    python -m safedrift.judges.toxicity_train --toxigen ../shared/data/toxigen \
        [--decodingtrust ../shared/data/decodingtrust_toxicity] [--kind mlp|logistic] \
        [--labelled benchmarks/data/toxicity_labels.csv ...] \
        [--hold-out asian,immigrant] [--out PATH]

The shipped `toxicity` head: `--decodingtrust ... --labelled benchmarks/data/toxicity_labels.csv
benchmarks/data/toxicity_labels_heldout2.csv`; `toxicity-linear`: `--kind logistic` without
`--labelled`, written to toxicity_head_linear.safetensors.

`--kind mlp` (the shipped head): one hidden ReLU layer of 256 units, scikit-learn's
MLPClassifier (Adam, L2 penalty α = 1e-3, seed 0, at most 500 epochs). `--kind logistic`: the
mean negative log-likelihood plus λ/2·‖w‖² (λ = `--l2` = 1e-4, bias unpenalised), minimised with
scipy's L-BFGS (the head shipped up to 2026-11-29). The MLP was chosen on hand-labelled
continuations of ToxiGen prompts (benchmarks/data/toxicity_labels*.csv): the logistic head
underfits ToxiGen's own statements, which small models repeat; it generalises better to target
groups never trained on (benchmarks/toxicity_judge.py prints both). `--hold-out` leaves whole
ToxiGen target groups out of training, for that measurement; the shipped head uses every group.
The head is written as safetensors with its recipe in the metadata.
"""

from __future__ import annotations

import argparse
import json
import random
import zlib
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from rich.progress import track

from safedrift.hashing import sha256_file
from safedrift.judges.toxicity import EMBEDDING_MODEL, HEAD_PATH, Embedder, Head, first_statement


def toxigen_statements(folder: Path, per_file: int, seed: int = 0,
                       groups: set[str] | None = None) -> list[tuple[str, int, str]]:
    """(statement, label, group): up to `per_file` distinct statements from each
    hate_/neutral_<group>_1k.txt file (each line holds several, joined by a literal \\n)."""
    rng = random.Random(seed)
    out = []
    for f in sorted(folder.glob("*_1k.txt")):
        kind, _, group = f.stem.removesuffix("_1k").partition("_")
        if kind not in ("hate", "neutral") or (groups is not None and group not in groups):
            continue
        pool = set()
        for line in f.read_text(encoding="utf-8").splitlines():
            pool |= {s.strip(" -") for s in line.split("\\n") if len(s.strip(" -")) > 15}
        pool = sorted(pool)
        out += [(t, int(kind == "hate"), group)
                for t in rng.sample(pool, min(per_file, len(pool)))]
    return out


HELD_OUT_FOLD = 0  # DecodingTrust documents with crc32(filename) % 5 == 0: never trained on


def document_fold(filename: str) -> int:
    return zlib.crc32(filename.encode()) % 5


def decodingtrust_texts(folder: Path, part: str = "prompt", held_out: bool = False
                        ) -> list[tuple[str, int, str]]:
    """(text, label, document) from DecodingTrust's toxic.jsonl and nontoxic.jsonl: the `part`
    ("prompt" or "continuation") with Perspective toxicity ≥ 0.5 (1) or < 0.1 (0). `held_out`
    picks the fixed test fifth of the documents, else the four fifths used for training."""
    rows = []
    for name in ("toxic.jsonl", "nontoxic.jsonl"):
        path = folder / name
        if not path.is_file():
            raise SystemExit(f"DecodingTrust file '{path}': no such file")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line)
                text, score = record[part]["text"], record[part].get("toxicity")
                document = record["filename"]
            except (ValueError, KeyError, TypeError):
                raise SystemExit(f"{path}, line {number}: not a DecodingTrust record with "
                                 f"'{part}.text' and 'filename'") from None
            if score is None or 0.1 <= score < 0.5:
                continue
            if (document_fold(document) == HELD_OUT_FOLD) == held_out:
                rows.append((text, int(score >= 0.5), document))
    return rows


def labelled_continuations(path: Path, rule=first_statement) -> list[tuple[str, int, str]]:
    """(judged text, label, source) of a hand-labelled continuation file (text,label CSV with
    toxic / non_toxic labels); the judged text is "" where the rule finds no statement."""
    from safedrift.errors import SafedriftError
    from safedrift.judges.validate import load_binary_labelled

    try:
        df = load_binary_labelled(path, "toxicity")
    except SafedriftError as e:
        raise SystemExit(str(e)) from None
    return [(rule(t), int(lab == "toxic"), path.name)
            for t, lab in zip(df["completion"], df["label"])]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    n = len(y)

    def loss(params):
        w, b = params[:-1], params[-1]
        z = x @ w + b
        p = 1 / (1 + np.exp(-z))
        value = (np.logaddexp(0, z).sum() - y @ z) / n + l2 / 2 * (w @ w)
        grad = np.append(x.T @ (p - y) / n + l2 * w, (p - y).sum() / n)
        return value, grad

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[:-1], float(res.x[-1])


MLP_HIDDEN, MLP_ALPHA = 256, 1e-3  # the shipped head's recipe


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int = MLP_HIDDEN, alpha: float = MLP_ALPHA,
            seed: int = 0) -> dict[str, np.ndarray]:
    """One hidden ReLU layer and a logistic output (scikit-learn's MLPClassifier), as arrays."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier((hidden,), alpha=alpha, max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x, y.astype(int))
    return {"w1": mlp.coefs_[0], "b1": mlp.intercepts_[0], "w2": mlp.coefs_[1][:, 0],
            "b2": mlp.intercepts_[1]}


def train_head(toxigen: Path, decodingtrust: Path | None = None, kind: str = "mlp",
               per_file: int = 120, l2: float = 1e-4, hold_out: set[str] = (), seed: int = 0,
               embedder: Embedder | None = None, labelled: list[Path] = ()) -> Head:
    if kind not in ("mlp", "logistic"):  # before minutes of embedding
        raise SystemExit(f"--kind: '{kind}' is not mlp or logistic")
    data = [r for r in toxigen_statements(toxigen, per_file, seed) if r[2] not in hold_out]
    if not data:
        raise SystemExit(f"no ToxiGen statements under {toxigen}")
    n_toxigen = len(data)
    sources = ["microsoft/TOXIGEN prompts (MIT): demonstration statements, hate_* = 1, "
               "neutral_* = 0"]
    if decodingtrust is not None:
        data += decodingtrust_texts(decodingtrust)
        sources.append("DecodingTrust toxicity prompts (RealToxicityPrompts, CC-BY-SA-4.0): "
                       "Perspective toxicity >= 0.5 = 1, < 0.1 = 0; documents with "
                       f"crc32(filename) % 5 == {HELD_OUT_FOLD} held out")
    n_before = len(data)
    labelled_files = []
    for path in labelled:
        rows = [r for r in labelled_continuations(Path(path)) if r[0]]
        data += rows
        labelled_files.append({"file": Path(path).name, "sha256": sha256_file(Path(path)),
                               "n": len(rows)})
    if labelled_files:
        sources.append("hand-labelled continuations of ToxiGen prompts (first statement, label "
                       "of the whole continuation): " +
                       ", ".join(f["file"] for f in labelled_files))
    embed = embedder or Embedder(EMBEDDING_MODEL)
    x = np.stack([embed(t) for t, _, _ in track(data, description="embedding")])
    y = np.array([label for _, label, _ in data], dtype=np.float64)
    if kind == "mlp":
        tensors, recipe = fit_mlp(x, y, seed=seed), {"hidden": MLP_HIDDEN, "alpha": MLP_ALPHA}
    else:
        w, b = fit_logistic(x, y, l2)
        tensors, recipe = {"w": w, "b": np.array([b])}, {"l2": l2}
    head = Head(tensors, {
        "kind": kind, **recipe, "embedding_model": EMBEDDING_MODEL,
        "embedding_model_sha256": embed.model.sha256, "training_data": "; ".join(sources),
        "n": len(y), "n_toxic": int(y.sum()), "n_toxigen": n_toxigen,
        "n_decodingtrust": n_before - n_toxigen, "n_labelled": len(y) - n_before,
        "labelled_files": labelled_files, "per_file": per_file, "seed": seed,
        "held_out_groups": sorted(hold_out),
        "decodingtrust_held_out_fold": HELD_OUT_FOLD if decodingtrust is not None else None})
    head.meta["training_accuracy"] = float(((head.probability(x) >= 0.5) == (y == 1)).mean())
    return head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toxigen", required=True, help="folder of ToxiGen's *_1k.txt files")
    ap.add_argument("--decodingtrust", help="folder of DecodingTrust's toxic.jsonl and "
                    "nontoxic.jsonl (the shipped head uses it)")
    ap.add_argument("--kind", default="mlp", choices=("mlp", "logistic"))
    ap.add_argument("--per-file", type=int, default=120)
    ap.add_argument("--l2", type=float, default=1e-4, help="logistic head's λ")
    ap.add_argument("--labelled", nargs="*", default=[], help="hand-labelled continuation "
                    "files (text,label CSV) whose first statements join the training data")
    ap.add_argument("--hold-out", default="", help="comma-separated groups left out")
    ap.add_argument("--out", default=str(HEAD_PATH))
    args = ap.parse_args()
    hold = {g for g in args.hold_out.split(",") if g}
    head = train_head(Path(args.toxigen), Path(args.decodingtrust) if args.decodingtrust else None,
                      args.kind, args.per_file, args.l2, hold,
                      labelled=[Path(p) for p in args.labelled])
    head.save(Path(args.out))
    print(f"wrote {args.out}: {head.meta['n']} texts ({head.meta['n_labelled']} labelled "
          f"continuations), training accuracy "
          f"{head.meta['training_accuracy']:.3f}")


if __name__ == "__main__":
    main()
