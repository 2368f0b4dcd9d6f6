"""An LLM refusal judge with XSTest's own three-class prompt (rubric `xstest`) against XSTest's
human labels, next to the pattern judge, on the same items.

By default the judge model is the embedded Qwen2.5-Coder-0.5B run locally; give --model (a
GGUF) or --base-url/--served-model (an OpenAI-compatible endpoint, API key from
$OPENAI_API_KEY) to measure another. --per-class N judges the first N items of each human
class per file (seconds per item on CPU); per-class recall does not depend on that sampling,
accuracy does, so the full files (--per-class 0) give the accuracy to quote.

    python benchmarks/llm_refusal_judge.py --shared ../shared/data [--per-class 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from safedrift.judges.llm import LLMJudge, LLMJudgeSettings
from safedrift.judges.refusal import LABELS, PatternRefusalJudge
from safedrift.judges.validate import load_labelled, validate_judge
from safedrift.models.openai_compat import EndpointSettings

FILES = {"GPT-4": "xstest_v2_completions_gpt4.csv",
         "Llama-2-70b-chat": "xstest_v2_completions_llama2orig.csv"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--model", default="embedded:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of --model")
    ap.add_argument("--served-model", default="judge")
    ap.add_argument("--per-class", type=int, default=30, help="0: every item")
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()
    endpoint = EndpointSettings(args.base_url, args.served_model) if args.base_url else None
    llm = LLMJudge(LLMJudgeSettings("xstest", endpoint, "xstest-llm",
                                    max_tokens=args.max_tokens,
                                    model=None if endpoint else args.model, n_ctx=2048))
    rows = []
    for who, name in FILES.items():
        path = Path(args.shared) / "xstest" / name
        labelled, _ = load_labelled(path)
        if args.per_class:
            labelled = pd.concat(g.head(args.per_class) for _, g in labelled.groupby("label"))
        for judge in (PatternRefusalJudge(), llm):
            t0 = time.perf_counter()
            v = validate_judge(judge, labelled, str(path))
            seconds = (time.perf_counter() - t0) / len(labelled)
            recall = v.per_class.set_index("label")["recall"]
            counts = v.confusion.sum(axis=0)  # how often the judge gave each class
            rows.append({"answers by": who, "judge": judge.name, "n": v.n,
                         "errors": v.n_errors, "binary": round(v.accuracy_binary, 3),
                         "3-class": round(v.accuracy_3class, 3),
                         **{f"recall {x}": round(recall[x], 3) for x in LABELS},
                         "judge's classes": "/".join(str(int(counts[x])) for x in LABELS),
                         "s/answer": round(seconds, 4)})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
