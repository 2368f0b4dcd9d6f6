"""The offline toxicity judge against labelled data of the kind that fools keyword classifiers,
on texts it was not trained on:

- ToxiGen statements of target groups held out of training (heads are trained here without
  them, the same way as the shipped one): implicit hate vs neutral statements and counter-speech;
- DecodingTrust / RealToxicityPrompts texts, Perspective toxicity ≥ 0.5 vs < 0.1, from the fifth
  of the documents that no head trains on (crc32(filename) % 5 == 0): their prompts, and their
  continuations, which are the kind of text the judge reads in a study.

Two recipes side by side: ToxiGen alone (the default up to embedding-head-1 of 2026-11-28) and
ToxiGen + DecodingTrust's other four fifths (the shipped head's recipe); plus the shipped head.

    python benchmarks/toxicity_judge.py --shared ../shared/data [--hatecheck test_suite_cases.csv]

About 7 minutes on 2 cores, plus about 9 for HateCheck's 3,728 cases (Röttger et al. 2021;
github.com/paul-rottger/hatecheck-data, CC-BY-4.0): functional tests of hate speech, reported per
functionality as the share each head calls toxic. HateCheck labels hate, not toxicity: its
non-hateful cases include profanity and abuse of individuals or of groups that are not protected
("You are scum.", "I hate waiters."), which a toxicity judge should flag; the cases where a
toxicity judge should say non-toxic are negation, counter-speech, neutral or positive mentions of
a group, homonyms and reclaimed slurs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.progress import track

from safedrift.judges.toxicity import HEAD_PATH, Embedder, head_probability
from safedrift.judges.toxicity_train import decodingtrust_texts, fit_logistic, toxigen_statements
from safedrift.judges.validate import auroc


def evaluate(weights, bias: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    p = head_probability(x, weights, bias)
    return float(((p >= 0.5) == (y == 1)).mean()), auroc(p[y == 1], p[y == 0])


# HateCheck functionalities that a toxicity judge should call non-toxic, and the non-hateful
# ones that are abusive (toxic, though not hate)
NOT_TOXIC = ("negate_neg_nh", "counter_quote_nh", "counter_ref_nh", "ident_neutral_nh",
             "ident_pos_nh", "slur_homonym_nh", "slur_reclaimed_nh")
ABUSIVE = ("profanity_nh", "target_obj_nh", "target_indiv_nh", "target_group_nh")


def hatecheck(path: Path) -> list[tuple[str, str, str]]:
    """(test_case, label_gold, functionality) from HateCheck's test_suite_cases.csv."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
        rows = list(zip(df["test_case"].astype(str).str.strip(), df["label_gold"],
                        df["functionality"]))
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"HateCheck file '{path}': needs columns functionality, test_case, "
                         f"label_gold ({type(e).__name__}: {e})") from None
    if not rows:
        raise SystemExit(f"HateCheck file '{path}': no cases")
    bad = {label for _, label, _ in rows} - {"hateful", "non-hateful"}
    if bad:
        raise SystemExit(f"HateCheck file '{path}': label_gold '{sorted(bad)[0]}' is not "
                         "hateful / non-hateful")
    return rows


def hatecheck_table(rows, x: np.ndarray, heads: dict) -> None:
    functionality = np.array([f for _, _, f in rows])
    names = list(dict.fromkeys(functionality))

    def row(label: str, kind: str, mask: np.ndarray) -> str:
        shares = [(head_probability(x[mask], w, b) >= 0.5).mean() for w, b in heads.values()]
        return f"| {label} | {kind} | {mask.sum()} | " + " | ".join(f"{s:.2f}" for s in shares) + " |"

    print("\nHateCheck: share called toxic (P ≥ 0.5) per functionality\n")
    print("| functionality | kind | n | " + " | ".join(heads) + " |")
    print("|---|---|---|" + "---|" * len(heads))
    for name in names:
        kind = ("hateful" if name.endswith("_h") else
                "should be non-toxic" if name in NOT_TOXIC else "abusive, not hate")
        print(row(name, kind, functionality == name))
    for label, group in (("hateful", [n for n in names if n.endswith("_h")]),
                         ("should be non-toxic", NOT_TOXIC), ("abusive, not hate", ABUSIVE)):
        mask = np.isin(functionality, group)
        if mask.any():
            print(row(f"**all {label}**", "", mask))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--hatecheck", help="HateCheck's test_suite_cases.csv (optional)")
    args = ap.parse_args()
    shared = Path(args.shared)
    toxigen = toxigen_statements(shared / "toxigen", 120)
    if not toxigen:
        raise SystemExit(f"no ToxiGen statements under {shared / 'toxigen'}")
    groups = sorted({g for _, _, g in toxigen})
    held = set(groups[::4])
    folder = shared / "decodingtrust_toxicity"
    sets = {"toxigen": toxigen, "dt_train": decodingtrust_texts(folder),
            "dt_prompts": decodingtrust_texts(folder, "prompt", held_out=True),
            "dt_continuations": decodingtrust_texts(folder, "continuation", held_out=True)}
    if args.hatecheck:
        sets["hatecheck"] = hatecheck(Path(args.hatecheck))
    embed = Embedder()
    t0, n = time.perf_counter(), sum(len(v) for v in sets.values())
    x = {k: np.stack([embed(t) for t, _, _ in track(v, description=f"embedding {k}")])
         for k, v in sets.items()}
    rate = n / (time.perf_counter() - t0)
    y = {k: np.array([label for _, label, _ in v], dtype=np.float64) for k, v in sets.items()
         if k != "hatecheck"}
    in_train = np.array([g not in held for _, _, g in toxigen])

    heads = {
        "ToxiGen only, λ = 1e-3": fit_logistic(x["toxigen"][in_train], y["toxigen"][in_train],
                                               1e-3),
        "ToxiGen + DecodingTrust, λ = 1e-4": fit_logistic(
            np.vstack([x["toxigen"][in_train], x["dt_train"]]),
            np.concatenate([y["toxigen"][in_train], y["dt_train"]]), 1e-4),
    }
    shipped = json.loads(HEAD_PATH.read_text())
    print(f"held-out ToxiGen groups: {', '.join(sorted(held))}; DecodingTrust: "
          f"{len(sets['dt_train'])} training prompts, held-out fifth "
          f"{len(sets['dt_prompts'])} prompts and {len(sets['dt_continuations'])} continuations\n")
    print("| head | ToxiGen, held-out groups | DecodingTrust prompts, held-out documents | "
          "DecodingTrust continuations, held-out documents |")
    print("|---|---|---|---|")
    test = [("toxigen", ~in_train), ("dt_prompts", None), ("dt_continuations", None)]
    for name, (w, b) in [*heads.items(), (f"shipped ({shipped.get('n', '?')} texts)",
                                          (shipped["weights"], shipped["bias"]))]:
        cells = []
        for key, mask in test:
            if key == "toxigen" and name.startswith("shipped"):
                cells.append("– (trained on every group)")
                continue
            xs, ys = (x[key][mask], y[key][mask]) if mask is not None else (x[key], y[key])
            acc, auc = evaluate(w, b, xs, ys)
            cells.append(f"{acc:.3f} / {auc:.3f} (n={len(ys)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\ncells: accuracy at P ≥ 0.5 / AUROC")
    if args.hatecheck:
        hatecheck_table(sets["hatecheck"], x["hatecheck"],
                        {**heads, "shipped": (shipped["weights"], shipped["bias"])})
    print(f"speed: {rate:.1f} texts/s (embedding; the head is one dot product)")


if __name__ == "__main__":
    main()
