"""Estimators, each doing one statistical thing and returning a result object.

- `wilson_rate`: a binomial rate with the Wilson score interval (Wilson 1927), via statsmodels.
- `agresti_min_interval`: interval for a difference of paired proportions, the adjusted Wald
  interval of Agresti & Min (2005, Statistics in Medicine 24:729): add 0.5 to each cell of the
  2×2 table of (base, tuned) outcomes, then use the Wald formula.
- `paired_effect`: tuned − base on the same items. One sample per item: McNemar test, mid-p by
  default (Fagerland et al. 2013), exact on request (statsmodels), and the Agresti–Min interval.
  Several samples, seeds or formats per item: the per-item mean difference, a sign-flip
  permutation test and a t interval with items as the unit (items are the independent clusters;
  Miller 2024, "Adding Error Bars to Evals").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    rate: float
    low: float
    high: float
    method: str = "wilson"


def wilson_rate(k: int, n: int, confidence: float = 0.95) -> Rate:
    if n == 0:
        return Rate(0, 0, float("nan"), float("nan"), float("nan"), "none (no items)")
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return Rate(int(k), int(n), k / n, float(low), float(high))


@dataclass(frozen=True)
class PairedEffect:
    n_items: int
    base_rate: float
    tuned_rate: float
    difference: float  # tuned − base
    low: float
    high: float
    p_value: float
    test: str
    interval_method: str
    odds_ratio: float  # discordant-pair odds ratio (tuned-only / base-only), exact design only
    cohens_h: float


def agresti_min_interval(base: np.ndarray, tuned: np.ndarray,
                         confidence: float = 0.95) -> tuple[float, float]:
    """Adjusted Wald interval for p_tuned − p_base from paired binary outcomes."""
    base, tuned = np.asarray(base, bool), np.asarray(tuned, bool)
    n = base.size
    b = np.sum(~base & tuned) + 0.5  # tuned yes, base no
    c = np.sum(base & ~tuned) + 0.5  # base yes, tuned no
    m = n + 2.0  # four cells, 0.5 added to each
    diff = (b - c) / m
    var = ((b + c) - (b - c) ** 2 / m) / m ** 2
    z = sps.norm.ppf(0.5 + confidence / 2)
    half = z * np.sqrt(var)
    return float(max(-1.0, diff - half)), float(min(1.0, diff + half))


def sign_flip_test(differences: np.ndarray, n_resamples: int = 20000, seed: int = 0,
                   exact_below: int = 18, mid_p: bool = True) -> float:
    """Two-sided p-value for H0: per-item differences are symmetric about zero.

    Statistic |sum d|. Exact enumeration of all 2^m sign patterns when m (non-zero
    differences) is at most `exact_below`, else Monte Carlo with the observed pattern counted
    in: p = (1 + #{≥ obs}) / (1 + B). With `mid_p`, patterns that tie the observed statistic
    count one half (Lancaster 1961), which removes most of the conservatism that ties cause on
    binary data while keeping the size near α.
    """
    d = np.asarray(differences, float)
    d = d[d != 0]
    m = d.size
    if m == 0:
        return 1.0
    observed = abs(d.sum())
    tol = 1e-12 * max(1.0, observed)
    tie_weight = 0.5 if mid_p else 1.0
    if m <= exact_below:
        signs = 1 - 2 * ((np.arange(2 ** m)[:, None] >> np.arange(m)) & 1)
        stat = np.abs(signs @ d)
        greater = np.sum(stat > observed + tol)
        ties = np.sum(np.abs(stat - observed) <= tol)
        return float((greater + tie_weight * ties) / stat.size)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, m))
    stat = np.abs(signs @ d)
    greater = np.sum(stat > observed + tol)
    ties = np.sum(np.abs(stat - observed) <= tol)
    return float((tie_weight + greater + tie_weight * ties) / (1 + n_resamples))


def mcnemar_p(only_base: int, only_tuned: int, mid_p: bool = True) -> float:
    """Two-sided McNemar test on the discordant pairs. Exact: 2·P(X ≤ k), X ~ Bin(b + c, ½),
    k = min(b, c) (statsmodels' exact McNemar). Mid-p: 2·[P(X ≤ k) − ½·P(X = k)], recommended by
    Fagerland, Lydersen & Laake (2013, BMC Med Res Methodol 13:91) because the exact test is
    conservative."""
    n = only_base + only_tuned
    if n == 0:
        return 1.0
    if not mid_p:
        return float(mcnemar([[0, only_base], [only_tuned, 0]], exact=True).pvalue)
    k = min(only_base, only_tuned)
    return float(min(1.0, 2 * (sps.binom.cdf(k, n, 0.5) - 0.5 * sps.binom.pmf(k, n, 0.5))))


def cohens_h(p1: float, p2: float) -> float:
    return float(2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p2)))


def paired_effect(base: np.ndarray, tuned: np.ndarray, confidence: float = 0.95,
                  seed: int = 0, mid_p: bool = True) -> PairedEffect:
    """Effect of fine-tuning on paired items. `base` and `tuned` have one row per item: either
    0/1 outcomes (one sample each: exact McNemar) or per-item rates in [0, 1] (several samples,
    seeds or formats averaged per item: sign-flip test, t interval over items)."""
    base, tuned = np.asarray(base, float), np.asarray(tuned, float)
    if base.shape != tuned.shape or base.ndim != 1:
        raise ValueError("base and tuned must be 1-d arrays over the same items")
    n = base.size
    if n == 0:
        nan = float("nan")
        return PairedEffect(0, nan, nan, nan, nan, nan, nan, "none", "none", nan, nan)
    pb, pt = float(base.mean()), float(tuned.mean())
    binary = np.all(np.isin(base, (0, 1))) and np.all(np.isin(tuned, (0, 1)))
    if binary:
        b_, t_ = base.astype(bool), tuned.astype(bool)
        only_tuned, only_base = int(np.sum(~b_ & t_)), int(np.sum(b_ & ~t_))
        p = mcnemar_p(only_base, only_tuned, mid_p)
        low, high = agresti_min_interval(b_, t_, confidence)
        odds = (only_tuned + 0.5) / (only_base + 0.5)
        return PairedEffect(n, pb, pt, pt - pb, low, high, p,
                            "McNemar mid-p" if mid_p else "exact McNemar",
                            "Agresti-Min adjusted Wald", float(odds), cohens_h(pt, pb))
    d = tuned - base
    if n > 1 and d.std(ddof=1) > 0:
        half = sps.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    else:
        half = 0.0
    p = sign_flip_test(d, seed=seed, mid_p=mid_p)
    return PairedEffect(n, pb, pt, float(d.mean()), float(max(-1, d.mean() - half)),
                        float(min(1, d.mean() + half)), p, "sign-flip permutation over items",
                        "t interval over items", float("nan"), cohens_h(pt, pb))
