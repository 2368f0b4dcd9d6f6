"""Intervals that respect the design: answers to the same item are not independent.

- `cluster_robust_mean`: the mean with a cluster-robust (CR1) standard error, clusters = items,
  and a t interval on K − 1 degrees of freedom (Miller 2024, "Adding Error Bars to Evals",
  eq. 4; Cameron & Miller 2015):  SE² = K/(K−1) · Σ_k (Σ_{j∈k} (y_j − ȳ))² / N².
- `cluster_bootstrap_mean`: percentile bootstrap that resamples whole items, and independently
  whole fine-tune seeds when there are several (a two-way crossed bootstrap; Field & Welsh 2007).
  Vectorised: resampling counts (multinomial) times per-cluster sums, no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    se: float
    method: str
    n_clusters: int


def _codes(labels) -> tuple[np.ndarray, int]:
    """Integer codes 0..K-1 for arbitrary labels (in sorted order of the labels), and K."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(labels).ravel(), sort=True)
    return codes, len(uniques)


def cluster_robust_mean(y, clusters, confidence: float = 0.95) -> Interval:
    y = np.asarray(y, float)
    codes, k = _codes(clusters)
    n = y.size
    mean = float(y.mean())
    if k < 2:
        return Interval(mean, float("nan"), float("nan"), float("nan"),
                        "cluster-robust (needs ≥ 2 clusters)", k)
    resid_sums = np.bincount(codes, weights=y - mean, minlength=k)
    se = float(np.sqrt(k / (k - 1) * np.sum(resid_sums ** 2)) / n)
    half = sps.t.ppf(0.5 + confidence / 2, k - 1) * se
    return Interval(mean, mean - half, mean + half, se, "cluster-robust SE (CR1), t(K-1)", k)


def cluster_bootstrap_mean(y, items, seeds=None, n_resamples: int = 2000,
                           confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile interval for the mean of y, resampling items (and seeds, crossed)."""
    y = np.asarray(y, float)
    ic, ni = _codes(items)
    rng = np.random.default_rng(seed)
    w_items = rng.multinomial(ni, np.full(ni, 1 / ni), size=n_resamples).astype(float)
    if seeds is None:
        sums = np.bincount(ic, weights=y, minlength=ni)
        counts = np.bincount(ic, minlength=ni).astype(float)
        boot = (w_items @ sums) / (w_items @ counts)
        method, k = "cluster bootstrap over items", ni
    else:
        sc, ns = _codes(seeds)
        cell = ic * ns + sc
        sums = np.bincount(cell, weights=y, minlength=ni * ns).reshape(ni, ns)
        counts = np.bincount(cell, minlength=ni * ns).reshape(ni, ns).astype(float)
        w_seeds = rng.multinomial(ns, np.full(ns, 1 / ns), size=n_resamples).astype(float)
        num = np.einsum("bi,is,bs->b", w_items, sums, w_seeds, optimize=True)
        den = np.einsum("bi,is,bs->b", w_items, counts, w_seeds, optimize=True)
        boot = num / den
        method, k = "cluster bootstrap over items × seeds", ni
    alpha = 1 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Interval(float(y.mean()), float(low), float(high), float(boot.std(ddof=1)), method, k)


def bootstrap_many(y, items, groups, n_resamples: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster-bootstrap intervals for the mean of y in every group at once (e.g. every model ×
    benchmark), resampling items with the same draws for all groups, so that differences between
    groups keep their pairing. Returns (estimates, lows, highs), one per group code 0..G-1."""
    y = np.asarray(y, float)
    ic, ni = _codes(items)
    gc, ng = _codes(groups)
    cell = ic * ng + gc
    sums = np.bincount(cell, weights=y, minlength=ni * ng).reshape(ni, ng)
    counts = np.bincount(cell, minlength=ni * ng).reshape(ni, ng).astype(float)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(ni, np.full(ni, 1 / ni), size=n_resamples).astype(float)
    boot = (w @ sums) / np.where((w @ counts) > 0, w @ counts, np.nan)
    alpha = 1 - confidence
    low, high = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    est = sums.sum(0) / counts.sum(0)
    return est, low, high
