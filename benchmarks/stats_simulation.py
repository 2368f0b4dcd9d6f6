"""Larger simulations with known truth (the unit tests run smaller versions):
coverage of 95% intervals on clustered data (at a rate of one half, then near 0 and 1, where
refusal rates of harmful and harmless benchmarks live, then with fine-tune seeds crossed with
items), and the size of the paired tests under the null.

    python benchmarks/stats_simulation.py [--reps 4000]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.special import expit, logit

from safedrift.stats.clustered import (cluster_bootstrap_mean, cluster_robust_mean,
                                       design_effect_wilson)
from safedrift.stats.estimates import paired_effect, sign_flip_test, wilson_rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=4000)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    hits = {"Wilson on all rows (naive)": 0, "cluster-robust SE": 0, "cluster bootstrap": 0,
            "design-effect Wilson": 0}
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
        d = design_effect_wilson(y, items)
        hits["design-effect Wilson"] += d.low <= 0.5 <= d.high
    print(f"Coverage of nominal 95% intervals, 60 items × 10 answers, p_item ~ Beta(1,1), "
          f"{args.reps} runs")
    for k, v in hits.items():
        print(f"  {k:<30}{v / args.reps:>7.3f}")
    edges(rng, max(args.reps // 4, 100))
    crossed(rng, max(args.reps // 8, 100))
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


def edges(rng, reps):
    """K items × 6 answers, item rates ~ Beta with mean m and intra-item correlation icc."""
    print(f"Coverage near 0 and 1: K items × 6 answers, item rate ~ Beta(mean m, ICC), {reps} runs")
    print(f"  {'K':>3} {'m':>5} {'ICC':>4}  naive  boot   CR-t   deff-Wilson  (width boot / "
          "deff-Wilson)")
    for k in (20, 60):
        for m in (0.02, 0.05, 0.2, 0.5, 0.95):
            for icc in (0.1, 0.5):
                s = (1 - icc) / icc
                hit = np.zeros(4)
                width = np.zeros(2)
                for r in range(reps):
                    p = rng.beta(m * s, (1 - m) * s, k)
                    y = (rng.random((k, 6)) < p[:, None]).astype(float).ravel()
                    items = np.repeat(np.arange(k), 6)
                    w = wilson_rate(int(y.sum()), y.size)
                    b = cluster_bootstrap_mean(y, items, n_resamples=500, seed=r)
                    c = cluster_robust_mean(y, items)
                    d = design_effect_wilson(y, items)
                    for i, (lo, hi) in enumerate([(w.low, w.high), (b.low, b.high),
                                                  (c.low, c.high), (d.low, d.high)]):
                        hit[i] += lo <= m <= hi
                    width += (b.high - b.low, d.high - d.low)
                h, wd = hit / reps, width / reps
                print(f"  {k:>3} {m:>5} {icc:>4}  {h[0]:.3f}  {h[1]:.3f}  {h[2]:.3f}  {h[3]:.3f}"
                      f"        ({wd[0]:.3f} / {wd[1]:.3f})", flush=True)


def crossed(rng, reps):
    """K items × 3 fine-tune seeds × 2 answers; logit p = logit(m) + item + seed effects."""
    print(f"Coverage with seeds crossed with items: K items × 3 seeds × 2 answers, item and seed "
          f"effects on the logit scale, {reps} runs")
    print(f"  {'K':>3} {'m':>5} {'sd item/seed':>12}  crossed boot  deff-Wilson (boot SE)")
    for k in (20, 60):
        for m in (0.03, 0.2, 0.5, 0.97):
            for sd_i, sd_s in ((1.0, 0.3), (2.0, 1.0)):
                truth = expit(logit(m) + rng.normal(0, sd_i, 200_000)
                              + rng.normal(0, sd_s, 200_000)).mean()
                hit = np.zeros(2)
                for r in range(reps):
                    p = expit(logit(m) + rng.normal(0, sd_i, k)[:, None]
                              + rng.normal(0, sd_s, 3)[None, :])
                    y = (rng.random((k, 3, 2)) < p[..., None]).astype(float).ravel()
                    items = np.repeat(np.arange(k), 6)
                    seeds = np.tile(np.repeat(np.arange(3), 2), k)
                    b = cluster_bootstrap_mean(y, items, seeds, n_resamples=500, seed=r)
                    d = design_effect_wilson(y, items, se=b.se)
                    hit += (b.low <= truth <= b.high, d.low <= truth <= d.high)
                h = hit / reps
                print(f"  {k:>3} {m:>5} {sd_i:>5}/{sd_s:<6}  {h[0]:.3f}         {h[1]:.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
