"""Harm judges against hand-labelled answers to harmful requests (benchmarks/data, harmful /
harmless, see its README): `harm_labels.csv` (the embedded Qwen, base; the proxy was first
measured on it), `harm_labels_heldout.csv` (Qwen base and an Alpaca fine-tune),
`harm_labels_heldout2.csv` (SmolLM2 base and an Alpaca fine-tune) and `harm_labels_heldout3.csv`
(Qwen base and a Self-Instruct fine-tune, with a travel-agent persona), each labelled and
committed before any judge scored it: held out. The files hold the answers and the items'
ids, not the benchmark prompts: those are read from ../shared/data.

Judges: `harm-proxy` (no judge model: the refusal judge reads compliance and the coherence
judge reads a coherent answer), the same proxy with the keyword refusal list, and the LLM
rubrics (`--rubrics`; none with `--rubrics` alone). By default the judge model is the embedded
Qwen2.5-Coder-0.5B run locally (the only model offline here); --model (a GGUF) or
--base-url/--served-model (an OpenAI-compatible endpoint, key from $OPENAI_API_KEY) measures a
real judge model. After the accuracy table, the harmful rate per answering model and format by
the human labels and by each judge: a study's conclusion is a difference of such rates, and a
judge can be accurate on average yet get the difference's sign wrong.

--harmbench-val FILE measures the same judges on one of HarmBench's human-labelled classifier
validation files instead (`text_behaviors_val_set.json`: answers of 20-odd chat models to its
behaviours under its attacks, three annotators each; on the hub and in HarmBench's repository,
not in ../shared/data), beside the verdicts HarmBench published for the classifiers it compared
on the same answers (its fine-tuned Llama-2-13B `cls`, GPT-4, Llama Guard, the AdvBench refusal
strings…), with the accuracy by attack method, and checks the `keyword` judge against the
AdvBench column: both implement the same refusal-string list.

    python benchmarks/harm_judge.py --shared ../shared/data [--rubrics [llama-guard harm-qi]]
        [--labels FILE ...] [--limit N]
    python benchmarks/harm_judge.py --harmbench-val text_behaviors_val_set.json [--rubrics]
    # HarmBench's own classifier, served (vllm serve cais/HarmBench-Llama-2-13b-cls), through
    # its prompt: the `harmbench-cls` rubric, raw text through the completions API
    python benchmarks/harm_judge.py --harmbench-val FILE --rubrics harmbench-cls \
        --base-url http://127.0.0.1:8000/v1 --served-model cais/HarmBench-Llama-2-13b-cls \
        --api completions
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from safedrift.judges import KeywordRefusalJudge
from safedrift.judges.harm import ProxyHarmJudge
from safedrift.judges.llm import HARMFUL, LLMJudge, LLMJudgeSettings
from safedrift.judges.refusal import COMPLIANCE
from safedrift.judges.validate import load_binary_labelled, read_table, validate_binary
from safedrift.stats.estimates import wilson_rate
from safedrift.models.openai_compat import EndpointSettings

from labelled_answers import with_prompts  # benchmarks/, next to this script

DATA = Path(__file__).parent / "data"
LABELS = DATA / "harm_labels.csv"
SETS = {"first (proxy measured on it)": "harm_labels.csv",
        "held out from proxy-1": "harm_labels_heldout.csv",
        "held out from proxy-1 (2)": "harm_labels_heldout2.csv",
        "held out from proxy-1 (3)": "harm_labels_heldout3.csv"}
MAX_TOKENS = {"llama-guard": 16, "harm-qi": 256, "strongreject": 384, "harmbench-cls": 4}
# the 0/1 verdict columns HarmBench's classifier validation files carry beside each answer
PUBLISHED = {"cls": "HarmBench-Llama-2-13b-cls", "cls_mistral": "HarmBench-Mistral-7b-val-cls",
             "gpt-4-0613": "GPT-4-0613 (HarmBench's prompt)",
             "gpt-4-1106-preview": "GPT-4-1106 (HarmBench's prompt)",
             "llama_guard": "Llama Guard (2023)", "mixtral": "Mixtral (HarmBench's prompt)",
             "GPTFuzz": "GPTFuzz RoBERTa", "chatglm": "ChatGLM", "advbench": "AdvBench refusal strings"}


class KeywordProxyHarmJudge(ProxyHarmJudge):
    """The proxy with the AdvBench keyword list as its refusal judge: a moralising word
    ("illegal", "unethical") anywhere makes the answer a refusal, hence harmless."""

    name, version = "harm-proxy (keyword)", "proxy-1-keyword"

    def __init__(self):
        super().__init__()
        self.refusal = KeywordRefusalJudge()


def labelled_sets(files: list[Path], shared: Path) -> dict[str, pd.DataFrame]:
    """Each labelled file with its prompts and its `source` (answering model and format)."""
    sets = {}
    for file in files:
        frame = load_binary_labelled(with_prompts(file, shared), "harm")
        frame["source"] = pd.read_csv(file)["source"].to_numpy()
        sets[next((k for k, v in SETS.items() if v == file.name), file.name)] = frame
    return sets


def accuracy_row(judge, name: str, v, seconds: float) -> dict:
    pc = v.per_class.set_index("label")
    low, high = v.interval()
    return {"set": name, "judge": judge.name, "n judged": v.n, "judge errors": v.n_errors,
            "accuracy [95% Wilson]": f"{v.accuracy_binary:.3f} [{low:.3f}, {high:.3f}]",
            "precision (harmful)": round(pc.loc[HARMFUL, "precision"], 3),
            "recall (harmful)": round(pc.loc[HARMFUL, "recall"], 3),
            "AUROC": round(v.auroc, 3) if not np.isnan(v.auroc) else "n/a",
            "s/answer": round(seconds, 3)}


def _scores(name: str, predicted: np.ndarray, human: np.ndarray, errors: int = 0) -> dict:
    """Accuracy with its Wilson interval, precision and recall of 0/1 verdicts, over the
    answers the judge decided (`errors` more it could not: not counted either way)."""
    r = wilson_rate(int((predicted == human).sum()), len(human))
    hits = int((predicted & human).sum())
    return {"judge": name, "n judged": len(human), "judge errors": errors,
            "accuracy [95% Wilson]": f"{r.rate:.3f} [{r.low:.3f}, {r.high:.3f}]",
            "precision (harmful)": round(hits / max(int(predicted.sum()), 1), 3),
            "recall (harmful)": round(hits / max(int(human.sum()), 1), 3)}


def harmbench_validation(path: Path, judges) -> dict:
    """Our judges and the classifiers HarmBench published verdicts for, on one of its classifier
    validation files, against the annotators' majority; the accuracy of ours by attack method;
    and how often the `keyword` judge and the AdvBench column agree (the same string list)."""
    labelled = load_binary_labelled(path, "harm")
    raw = read_table(path).iloc[labelled["row"].to_numpy() - 1].reset_index(drop=True)
    human = (labelled["label"] == HARMFUL).to_numpy()
    rows, by_method = [], {}
    for judge in judges:
        v = validate_binary(judge, labelled, path.name)
        # the answers it decided: a judge error (an LLM judge's unparseable output) is left out
        judged = v.judged.sort_values("row")
        at = pd.Index(labelled["row"]).get_indexer(judged["row"])
        predicted = (judged["judge"] == HARMFUL).to_numpy()
        rows.append(_scores(judge.name, predicted, human[at], v.n_errors + v.n_unfinished))
        if "method" in raw:
            by_method[judge.name] = pd.Series(predicted == human[at]).groupby(
                raw["method"].to_numpy()[at]).mean()
    for column, name in PUBLISHED.items():
        verdict = pd.to_numeric(raw[column], errors="coerce") if column in raw else None
        if verdict is not None and verdict.isin([0, 1]).all():
            rows.append(_scores(f"{name} [published]", verdict.to_numpy() == 1, human))
    keyword = None
    if "advbench" in raw:
        strings = KeywordRefusalJudge()
        ours = np.array([strings.judge(p, a).label == COMPLIANCE
                         for p, a in zip(labelled["prompt"], labelled["completion"])])
        keyword = int((ours == (pd.to_numeric(raw["advbench"]) == 1).to_numpy()).sum())
    methods = pd.DataFrame(by_method)
    if "method" in raw:
        methods.insert(0, "n", raw["method"].value_counts())
    return {"n": len(labelled), "harmful": int(human.sum()), "table": pd.DataFrame(rows),
            "by_method": methods, "keyword_agrees": keyword,
            "annotators": labelled.attrs.get("annotators")}


def print_harmbench_validation(path: Path, judges) -> None:
    out = harmbench_validation(path, judges)
    print(f"{path}: {out['n']} answers, {out['harmful']} harmful by the annotators' majority")
    if out["annotators"]:
        a = out["annotators"]
        print(f"annotators pairwise agreement {a['binary']:.3f}, Fleiss' kappa "
              f"{a['fleiss_kappa']:.3f}")
    print(out["table"].to_string(index=False))
    if out["keyword_agrees"] is not None:
        print(f"\n`keyword` (our AdvBench string list) agrees with HarmBench's advbench column on "
              f"{out['keyword_agrees']} of {out['n']} answers")
    if not out["by_method"].empty:
        print("\naccuracy by attack method:")
        print(out["by_method"].round(3).to_string())


def harm_judges(args) -> list:
    """The proxy, its keyword variant, and one LLM judge per --rubrics entry, on the endpoint
    (--base-url) or the local GGUF (--model)."""
    endpoint = (EndpointSettings(args.base_url, args.served_model, api=args.api)
                if args.base_url else None)
    return [ProxyHarmJudge(), KeywordProxyHarmJudge()] + [
        LLMJudge(LLMJudgeSettings(r, endpoint, max_tokens=MAX_TOKENS[r], n_ctx=2048,
                                  model=None if endpoint else args.model))
        for r in args.rubrics]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", nargs="+", default=[str(DATA / f) for f in SETS.values()])
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--rubrics", nargs="*", default=["llama-guard", "harm-qi"])
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of --model")
    ap.add_argument("--served-model", default="judge")
    ap.add_argument("--api", choices=["chat", "completions"], default="chat",
                    help="completions: the rubric as raw text (HarmBench's classifier, "
                         "--rubrics harmbench-cls)")
    ap.add_argument("--limit", type=int, default=0, help="first N answers of each set (0: all)")
    ap.add_argument("--harmbench-val", help="one of HarmBench's classifier validation files "
                    "(text_behaviors_val_set.json) instead of the project's labelled sets")
    args = ap.parse_args()
    if args.harmbench_val:
        print_harmbench_validation(Path(args.harmbench_val), harm_judges(args))
        return
    sets = labelled_sets([Path(f) for f in args.labels], Path(args.shared))
    if args.limit:
        sets = {k: v.head(args.limit) for k, v in sets.items()}
    judges = harm_judges(args)  # after the sets: a local judge model loads here
    rows, rates = [], []
    for judge in judges:
        verdicts = []
        for name, frame in [*sets.items(), ("pooled", pd.concat(sets.values(),
                                                                ignore_index=True))]:
            t0 = time.perf_counter()
            v = validate_binary(judge, frame, name)
            rows.append(accuracy_row(judge, name, v, (time.perf_counter() - t0) / len(frame)))
            if name != "pooled":
                source = frame.set_index("row")["source"]
                verdicts.append(v.judged.assign(source=v.judged["row"].map(source).to_numpy()))
        judged = pd.concat(verdicts, ignore_index=True)
        rates.append(judged.assign(judge=judge.name, harmful=judged["judge"] == HARMFUL))
    for name, frame in sets.items():
        print(f"{name}: {len(frame)} answers, {int((frame['label'] == HARMFUL).sum())} harmful "
              "by the human label")
    print(pd.DataFrame(rows).to_string(index=False))
    rates = pd.concat(rates, ignore_index=True)
    table = rates.pivot_table(index="source", columns="judge", values="harmful", aggfunc="mean")
    human = pd.concat(sets.values()).groupby("source")["label"].apply(
        lambda s: (s == HARMFUL).mean())
    table.insert(0, "human", human)
    print("\nharmful rate per answering model and format (human labels and each judge):")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
