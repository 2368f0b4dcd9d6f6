"""Larger simulations with known truth (the unit tests run smaller versions):
coverage of 95% intervals on clustered data, and the size of the paired tests under the null.

    python benchmarks/stats_simulation.py [--reps 4000]
"""

from __future__ import annotations

import argparse

import numpy as np

from safedrift.stats.clustered import cluster_bootstrap_mean, cluster_robust_mean
from safedrift.stats.estimates import paired_effect, sign_flip_test, wilson_rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=4000)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    hits = {"Wilson on all rows (naive)": 0, "cluster-robust SE": 0, "cluster bootstrap": 0}
    for r in range(args.reps):
        p = rng.beta(1, 1, 60)
        y = (rng.random((60, 10)) < p[:, None]).astype(float).ravel()
        items = np.repeat(np.arange(60), 10)
        w = wilson_rate(int(y.sum()), y.size)
        c = cluster_robust_mean(y, items)
        b = cluster_bootstrap_mean(y, items, n_resamples=1000, seed=r)
        hits["Wilson on all rows (naive)"] += w.low <= 0.5 <= w.high
        hits["cluster-robust SE"] += c.low <= 0.5 <= c.high
        hits["cluster bootstrap"] += b.low <= 0.5 <= b.high
    print(f"Coverage of nominal 95% intervals, 60 items × 10 answers, p_item ~ Beta(1,1), "
          f"{args.reps} runs")
    for k, v in hits.items():
        print(f"  {k:<30}{v / args.reps:>7.3f}")
    rej = {"McNemar mid-p (1 sample)": 0, "exact McNemar (1 sample)": 0,
           "sign-flip mid-p (3 samples)": 0, "sign-flip plain (3 samples)": 0,
           "sign-flip (continuous)": 0}
    for r in range(args.reps):
        p = rng.beta(2, 2, 40)
        b, t = rng.random(40) < p, rng.random(40) < p
        rej["McNemar mid-p (1 sample)"] += paired_effect(b.astype(float), t.astype(float)
                                                         ).p_value < 0.05
        rej["exact McNemar (1 sample)"] += paired_effect(b.astype(float), t.astype(float),
                                                         mid_p=False).p_value < 0.05
        b3, t3 = (rng.random((3, 40)) < p).mean(0), (rng.random((3, 40)) < p).mean(0)
        rej["sign-flip mid-p (3 samples)"] += sign_flip_test(t3 - b3, n_resamples=999,
                                                             seed=r) < 0.05
        rej["sign-flip plain (3 samples)"] += sign_flip_test(t3 - b3, n_resamples=999, seed=r,
                                                             mid_p=False) < 0.05
        rej["sign-flip (continuous)"] += sign_flip_test(rng.standard_t(4, 30), n_resamples=999,
                                                        seed=r) < 0.05
    print(f"Rejection rate of a true null at alpha = 0.05, {args.reps} runs")
    for k, v in rej.items():
        print(f"  {k:<30}{v / args.reps:>7.3f}")


if __name__ == "__main__":
    main()
