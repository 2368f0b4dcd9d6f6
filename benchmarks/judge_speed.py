"""Responses judged per second by the text-only judges (goal for the refusal default: ≥ 200/s
on 2 cores; the hub classifiers need the hub), on XSTest's GPT-4 and Llama-2 completions when
SAFEDRIFT_SHARED_DATA is set, else on the built-in smoke prompts paired with synthetic answers.
`--toxicity N` also times the two embedding-based toxicity judges side by side on the first N
hand-labelled ToxiGen continuations (benchmarks/data/toxicity_labels_heldout2.csv, up to 64
tokens): each on its own with an empty embedding cache, and `toxicity` after
`toxicity-linear` (the two share the embedding model and its cache, as in a run with both).

    SAFEDRIFT_SHARED_DATA=../shared/data python benchmarks/judge_speed.py [--toxicity 100]
"""

from __future__ import annotations

import argparse
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


def toxicity_speed(n: int) -> None:
    import pandas as pd

    path = Path(__file__).parent / "data" / "toxicity_labels_heldout2.csv"
    answers = pd.read_csv(path)["text"].fillna("").tolist()[:n]
    linear, mlp = make_judge("toxicity-linear"), make_judge("toxicity")
    linear.judge("", "load the embedding model")  # loading is not judging
    embedder = linear._embed

    def rate(judge) -> float:
        t = time.perf_counter()
        for answer in answers:
            judge.judge("", answer)
        return len(answers) / (time.perf_counter() - t)

    print(f"\n{len(answers)} ToxiGen continuations ({path.name})")
    print(f"{'judge':<36}{'answers/s':>10}")
    for name, judge in (("toxicity-linear (first statement)", linear),
                        ("toxicity (first statement + whole)", mlp)):
        embedder.cached.cache_clear()
        print(f"{name:<36}{rate(judge):>10.1f}")
    embedder.cached.cache_clear()
    rate(linear)
    print(f"{'toxicity after toxicity-linear':<36}{rate(mlp):>10.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toxicity", type=int, default=0, metavar="N",
                    help="also time the toxicity judges on N continuations")
    args = ap.parse_args()
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
    if args.toxicity:
        toxicity_speed(args.toxicity)


if __name__ == "__main__":
    main()
