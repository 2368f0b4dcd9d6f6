"""Decisions under noise.

- `prob_safer`: P(A safer than B) across fine-tune seeds (Bouthillier et al. 2021, "Accounting
  for variance in machine learning benchmarks"): the share of (seed of A, seed of B) pairs in
  which A's score is higher, ties counted one half. Higher score = safer (e.g. refusal rate on
  harmful requests).
- `power_for_drop` / `seeds_needed` / `minimum_detectable_effect`: a normal approximation to
  the paired design "mean over S tuned seeds minus base, on the same I items with R samples":

      Var(Δ̂) = σ²_seed / S + σ²_resid · (1/(S·R) + 1/R) / I

  (item effects cancel in the pairing; the base model has one fixed set of weights), then
  power = Φ(|Δ|/SE − z_{1−α/2}) and MDE = (z_{1−α/2} + z_power) · SE.
- `adjust_pvalues`: Holm (family-wise) or Benjamini–Hochberg (false discovery rate) via
  statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests


def prob_safer(scores_a, scores_b) -> float:
    a = np.asarray(scores_a, float)[:, None]
    b = np.asarray(scores_b, float)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


@dataclass(frozen=True)
class Design:
    var_seed: float  # between-seed variance of a tuned model's score (per-verdict scale)
    var_resid: float  # residual variance of one verdict (item × seed × sample noise)
    n_items: int
    n_samples: int = 1


def _se(d: Design, n_seeds: int) -> float:
    var = d.var_seed / n_seeds + d.var_resid * (1 / (n_seeds * d.n_samples) + 1 / d.n_samples) \
        / d.n_items
    return float(np.sqrt(var))


def power_for_drop(delta: float, design: Design, n_seeds: int, alpha: float = 0.05) -> float:
    z = sps.norm.ppf(1 - alpha / 2)
    return float(sps.norm.cdf(abs(delta) / _se(design, n_seeds) - z))


def seeds_needed(delta: float, design: Design, power: float = 0.8, alpha: float = 0.05,
                 max_seeds: int = 1000) -> int | None:
    """Smallest number of fine-tune seeds reaching `power`; None if even max_seeds does not
    (the item-level noise alone is too large: add items or samples)."""
    for s in range(1, max_seeds + 1):
        if power_for_drop(delta, design, s, alpha) >= power:
            return s
    return None


def minimum_detectable_effect(design: Design, n_seeds: int, power: float = 0.8,
                              alpha: float = 0.05) -> float:
    return float((sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)) * _se(design, n_seeds))


def adjust_pvalues(pvalues, method: str = "holm") -> np.ndarray:
    """method: "holm" or "fdr_bh" (Benjamini–Hochberg). NaNs stay NaN."""
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out
