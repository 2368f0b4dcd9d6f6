"""Statistics at scale: 1 million judged rows (500 items × 5 seeds × 4 formats × 10 samples ×
10 models), the whole `analyze` (2,000-resample cluster bootstrap included), and the interval of
every model rate (design-effect Wilson, items as clusters) next to scipy.stats.bootstrap called
once per rate.

    python benchmarks/stats_speed.py [--resamples 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats as sps

from safedrift.stats.analyze import analyze
from safedrift.stats.clustered import design_effect_wilson


def make_rows(rng, items=500, seeds=5, formats=4, samples=10, models=10) -> pd.DataFrame:
    n = items * seeds * formats * samples * models
    grid = np.indices((models, seeds, formats, samples, items)).reshape(5, -1)
    item_p = rng.beta(2, 2, items)
    model_shift = np.concatenate([[0.0], rng.uniform(-0.4, 0.0, models - 1)])
    seed_shift = rng.normal(0, 0.05, (models, seeds))
    fmt_shift = rng.normal(0, 0.03, formats)
    p = np.clip(item_p[grid[4]] + model_shift[grid[0]] + seed_shift[grid[0], grid[1]]
                + fmt_shift[grid[2]], 0, 1)
    df = pd.DataFrame({
        "model": np.where(grid[0] == 0, "base", np.char.add("m", grid[0].astype(str))),
        "finetune_seed": grid[1], "format": grid[2], "sample_index": grid[3],
        "item_id": grid[4], "refused": (rng.random(n) < p).astype(np.float64)})
    df["benchmark"] = "synthetic"
    return df


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    df = make_rows(rng)
    print(f"rows: {len(df):,}")

    t = time.perf_counter()
    a = analyze(df, n_resamples=args.resamples)
    t_analyze = time.perf_counter() - t

    t = time.perf_counter()
    for _, sub in df.groupby("model"):
        design_effect_wilson(sub["refused"].to_numpy(), sub["item_id"].to_numpy())
    t_ours = time.perf_counter() - t

    # (a) scipy.stats.bootstrap once per model rate on that model's raw rows: the direct use,
    # which resamples rows as if independent
    t = time.perf_counter()
    for model, sub in df.groupby("model"):
        sps.bootstrap((sub["refused"].to_numpy(),), np.mean, n_resamples=args.resamples,
                      method="percentile", random_state=0)
    t_scipy_rows = time.perf_counter() - t
    # (b) scipy once per model rate on per-item means: a correct cluster bootstrap for this
    # balanced design, once the user has collapsed rows to items themselves
    t = time.perf_counter()
    for model, sub in df.groupby("model"):
        item_means = sub.groupby("item_id")["refused"].mean().to_numpy()
        sps.bootstrap((item_means,), np.mean, n_resamples=args.resamples, method="percentile",
                      random_state=0)
    t_scipy_items = time.perf_counter() - t

    print(f"{'task':<64}{'seconds':>9}")
    print(f"{'analyze(): every estimate on 1M rows':<64}{t_analyze:>9.2f}")
    print(f"{'safedrift design-effect Wilson, all 10 model rates':<64}{t_ours:>9.2f}")
    print(f"{'(a) scipy.stats.bootstrap per model rate, raw rows (iid)':<64}{t_scipy_rows:>9.2f}")
    print(f"{'(b) scipy.stats.bootstrap per model rate, per-item means':<64}{t_scipy_items:>9.2f}")
    print(f"speed-up over (a): {t_scipy_rows / t_ours:.1f}×;  over (b): {t_scipy_items / t_ours:.1f}×")
    print(f"goal: analyze ≤ 30 s -> {'met' if t_analyze <= 30 else 'NOT met'}")
    print(a.findings[0])


if __name__ == "__main__":
    main()
