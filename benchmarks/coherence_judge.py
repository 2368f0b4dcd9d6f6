"""How well the coherence judges find degenerate answers, and how fast `coherence-ppl` runs.

Two measurements, printed as tables:

1. Real fine-tuned outputs, labelled by hand (`benchmarks/data/coherence_labels.csv`: answers
   of the embedded Qwen and of LoRA fine-tunes of it, trained hard enough to break, to the
   built-in smoke prompts; labels written before either judge was run on them): accuracy,
   precision and recall of "degenerate", AUROC of the score.
2. Known truth by construction: every answer labelled coherent, and the same answer with its
   words shuffled (word salad: no loop, no template marker, the failure the heuristics cannot
   see). Recall on the shuffled copies, false flags on the originals.

Also the per-token negative log-likelihood of each labelled class (the threshold's evidence)
and responses/s of `coherence-ppl` on 2 cores.

    python benchmarks/coherence_judge.py [--labels FILE] [--max-nll 4.0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from safedrift.judges import CoherenceJudge, PerplexityCoherenceJudge
from safedrift.judges.validate import load_binary_labelled, validate_binary

LABELS = Path(__file__).parent / "data" / "coherence_labels.csv"


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    return " ".join(np.random.default_rng(seed).permutation(words))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--max-nll", type=float, default=4.0)
    args = ap.parse_args()

    labelled = load_binary_labelled(args.labels, "coherence")
    ppl = PerplexityCoherenceJudge(max_nll=args.max_nll)
    judges = [CoherenceJudge(), ppl]

    print(f"1. hand-labelled answers: {args.labels.name}, n={len(labelled)} "
          f"({int((labelled['label'] == 'degenerate').sum())} degenerate)")
    print(f"{'judge':<15}{'accuracy':>9}{'precision':>10}{'recall':>8}{'AUROC':>7}")
    for judge in judges:
        v = validate_binary(judge, labelled, str(args.labels))
        row = v.per_class.set_index("label").loc["degenerate"]
        print(f"{judge.name:<15}{v.accuracy_binary:>9.3f}{row['precision']:>10.3f}"
              f"{row['recall']:>8.3f}{v.auroc:>7.3f}")

    t = time.perf_counter()
    nll = [ppl.likelihood(p, c) for p, c in zip(labelled["prompt"], labelled["completion"])]
    rate = len(nll) / (time.perf_counter() - t)
    labelled = labelled.assign(nll=[x.nll for x in nll], n_tokens=[x.n_tokens for x in nll])
    print("\nnats/token under the reference model (quantiles 0 / 10 / 50 / 90 / 100%)")
    for label, part in labelled[labelled["n_tokens"] >= ppl.min_tokens].groupby("label"):
        q = np.quantile(part["nll"], [0, 0.1, 0.5, 0.9, 1.0])
        print(f"{label:<12} n={len(part):<4}"
              + " ".join(f"{x:6.2f}" for x in q))

    fluent = labelled[(labelled["label"] == "coherent")
                      & (labelled["completion"].str.split().str.len() >= 12)]
    salad = pd.DataFrame({"prompt": fluent["prompt"],
                          "completion": [shuffled(c, i) for i, c in
                                         enumerate(fluent["completion"])]})
    print(f"\n2. constructed word salad: {len(fluent)} coherent answers of >= 12 words and "
          "their shuffled copies")
    print(f"{'judge':<15}{'salad flagged':>14}{'originals flagged':>19}")
    for judge in judges:
        hit = np.mean([judge.judge(p, c).label == "degenerate"
                       for p, c in zip(salad["prompt"], salad["completion"])])
        false = np.mean([judge.judge(p, c).label == "degenerate"
                         for p, c in zip(fluent["prompt"], fluent["completion"])])
        print(f"{judge.name:<15}{hit:>14.3f}{false:>19.3f}")
    print(f"\ncoherence-ppl speed: {rate:.1f} responses/s (mean "
          f"{labelled['n_tokens'].mean():.0f} answer tokens)")


if __name__ == "__main__":
    main()
