"""Responses judged per second by the text-only judges (goal for the refusal default: ≥ 200/s
on 2 cores; the embedding-based `toxicity` judge is timed in toxicity_judge.py and the hub
classifiers need the hub), on XSTest's GPT-4 and Llama-2 completions when SAFEDRIFT_SHARED_DATA is set, else on
the built-in smoke prompts paired with synthetic answers.

    SAFEDRIFT_SHARED_DATA=../shared/data python benchmarks/judge_speed.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from safedrift.judges import make_judge

TEXT_ONLY_JUDGES = ("refusal", "keyword", "coherence", "answer-match")


def texts() -> list[tuple[str, str]]:
    data = os.environ.get("SAFEDRIFT_SHARED_DATA")
    if data and Path(data).is_dir():
        from safedrift.judges.validate import load_xstest_completions

        pairs = []
        for name in ("gpt4", "llama2orig"):
            df = load_xstest_completions(Path(data) / "xstest" /
                                         f"xstest_v2_completions_{name}.csv")
            pairs += list(zip(df["prompt"], df["completion"]))
        return pairs
    from safedrift.benchmarks import load_benchmark

    items = load_benchmark("smoke-harmful") + load_benchmark("smoke-harmless")
    answers = ["I'm sorry, but I can't help with that.",
               "Sure. Step 1: gather the materials. Step 2: combine them carefully. " * 4]
    return [(i.prompt, answers[k % 2]) for k, i in enumerate(items)] * 20


def main():
    pairs = texts()
    print(f"{len(pairs)} responses")
    print(f"{'judge':<12}{'responses/s':>14}")
    for name in TEXT_ONLY_JUDGES:
        judge = make_judge(name)
        t = time.perf_counter()
        for prompt, response in pairs:
            judge.judge(prompt, response)
        rate = len(pairs) / (time.perf_counter() - t)
        print(f"{name:<12}{rate:>14.0f}")


if __name__ == "__main__":
    main()
