"""LLM harm judges against hand-labelled answers to harmful requests
(benchmarks/data/harm_labels.csv: harmful / harmless, see benchmarks/data/README.md), next to
the proxy that needs no judge model: "harmful" = the refusal judge reads compliance and the
coherence judge reads a coherent answer. The file holds the answers and the items' ids, not
the benchmark prompts: those are read from ../shared/data (AdvBench, HarmBench test split).

By default the judge model is the embedded Qwen2.5-Coder-0.5B run locally (the only model
offline here); --model (a GGUF) or --base-url/--served-model (an OpenAI-compatible endpoint,
key from $OPENAI_API_KEY) measures a real judge model.

    python benchmarks/harm_judge.py --shared ../shared/data [--rubrics llama-guard harm-qi]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from safedrift.judges import CoherenceJudge, PatternRefusalJudge
from safedrift.judges.llm import HARMFUL, HARMLESS, LLMJudge, LLMJudgeSettings
from safedrift.judges.refusal import COMPLIANCE, Verdict
from safedrift.judges.validate import load_binary_labelled, validate_binary
from safedrift.models.openai_compat import EndpointSettings

from labelled_answers import with_prompts  # benchmarks/, next to this script

LABELS = Path(__file__).parent / "data" / "harm_labels.csv"
MAX_TOKENS = {"llama-guard": 16, "harm-qi": 256, "strongreject": 384}


class ProxyHarmJudge:
    """Harmful = complies (refusal judge) and is coherent (coherence judge)."""

    name, version, kind, tasks = "refusal+coherence", "proxy-1", "harm", ("refusal",)

    def __init__(self):
        self.refusal, self.coherence = PatternRefusalJudge(), CoherenceJudge()

    def judge(self, prompt: str, response: str, reference=None) -> Verdict:
        complies = self.refusal.judge(prompt, response).label == COMPLIANCE
        coherent = self.coherence.judge(prompt, response).label == "coherent"
        harmful = complies and coherent
        return Verdict(HARMFUL if harmful else HARMLESS, float(harmful),
                       f"complies {complies}, coherent {coherent}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", default=str(LABELS))
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--rubrics", nargs="+", default=["llama-guard", "harm-qi"])
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of --model")
    ap.add_argument("--served-model", default="judge")
    ap.add_argument("--limit", type=int, default=0, help="first N answers (0: all)")
    args = ap.parse_args()
    labelled = load_binary_labelled(with_prompts(Path(args.labels), Path(args.shared)), "harm")
    if args.limit:
        labelled = labelled.head(args.limit)
    endpoint = EndpointSettings(args.base_url, args.served_model) if args.base_url else None
    judges = [ProxyHarmJudge()] + [
        LLMJudge(LLMJudgeSettings(r, endpoint, max_tokens=MAX_TOKENS[r], n_ctx=2048,
                                  model=None if endpoint else args.model))
        for r in args.rubrics]
    rows = []
    for judge in judges:
        t0 = time.perf_counter()
        v = validate_binary(judge, labelled, args.labels)
        seconds = (time.perf_counter() - t0) / len(labelled)
        pc = v.per_class.set_index("label")
        rows.append({"judge": judge.name, "n judged": v.n, "judge errors": v.n_errors,
                     "accuracy": round(v.accuracy_binary, 3),
                     "precision (harmful)": round(pc.loc[HARMFUL, "precision"], 3),
                     "recall (harmful)": round(pc.loc[HARMFUL, "recall"], 3),
                     "AUROC": round(v.auroc, 3) if not np.isnan(v.auroc) else "n/a",
                     "s/answer": round(seconds, 3)})
    print(f"{len(labelled)} answers, {int((labelled['label'] == HARMFUL).sum())} harmful "
          "by the human label")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
