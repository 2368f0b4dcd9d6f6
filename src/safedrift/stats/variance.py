"""Where the variance of a safety score comes from.

`variance_components` fits a random-effects ANOVA by the method of moments (Searle, Casella &
McCulloch 1992, ch. 4) to a balanced crossed design: every factor (fine-tune seed, prompt
format, sampling seed, judge, item, …) is a random main effect, interactions fall into the
residual. For factor A with a levels in N rows, n_A = N / a rows per level:

    MS_A = n_A Σ_l (ȳ_l − ȳ)² / (a − 1),   E[MS_A] = σ²_e + n_A σ²_A,
    σ̂²_A = max(0, (MS_A − MS_E) / n_A),    MS_E = (SS_total − Σ_A SS_A) / (N − 1 − Σ_A (a − 1)).

Shares are σ̂²_A / (Σ σ̂² + σ̂²_e). The intraclass correlation of items is σ̂²_item over the
total: how much of a verdict is fixed by which prompt it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class VarianceComponents:
    table: pd.DataFrame  # factor, levels, mean_square, variance, share
    n_rows: int
    balanced: bool
    warnings: tuple[str, ...]

    def share(self, factor: str) -> float:
        return float(self.table.set_index("factor").loc[factor, "share"])


def variance_components(df: pd.DataFrame, outcome: str, factors: list[str]) -> VarianceComponents:
    warnings = []
    used = [f for f in factors if df[f].nunique() > 1]
    for f in factors:
        if f not in used:
            warnings.append(f"'{f}' has one level in these rows, so its variance cannot be "
                            "estimated (reported as 0)")
    y = df[outcome].to_numpy(float)
    n = y.size
    grand = y.mean()
    ss_total = float(np.sum((y - grand) ** 2))
    rows, ss_effects, df_effects = [], 0.0, 0
    cell_sizes = df.groupby(used, observed=True).size() if used else pd.Series([n])
    balanced = bool(cell_sizes.nunique() == 1 and len(cell_sizes) == np.prod(
        [df[f].nunique() for f in used]))
    if not balanced:
        warnings.append("the design is unbalanced; method-of-moments components are approximate")
    stats = {}
    for f in used:
        codes, levels = pd.factorize(df[f])
        a = len(levels)
        sums = np.bincount(codes, weights=y, minlength=a)
        counts = np.bincount(codes, minlength=a)
        means = sums / counts
        ss = float(np.sum(counts * (means - grand) ** 2))
        ss_effects += ss
        df_effects += a - 1
        stats[f] = (a, ss / (a - 1), n / a)
    df_resid = n - 1 - df_effects
    ms_resid = (ss_total - ss_effects) / df_resid if df_resid > 0 else float("nan")
    for f in factors:
        if f in stats:
            a, ms, n_per = stats[f]
            var = max(0.0, (ms - ms_resid) / n_per)
            rows.append({"factor": f, "levels": a, "mean_square": ms, "variance": var})
        else:
            rows.append({"factor": f, "levels": 1, "mean_square": float("nan"), "variance": 0.0})
    rows.append({"factor": "residual", "levels": n, "mean_square": ms_resid,
                 "variance": max(0.0, ms_resid)})
    table = pd.DataFrame(rows)
    total = table["variance"].sum()
    if total > 0:
        table["share"] = table["variance"] / total
    else:  # every answer alike: there is no variance to share out, not a 0% share of each
        table["share"] = float("nan")
        warnings.append("every answer has the same outcome: no variance to divide among factors")
    return VarianceComponents(table, n, balanced, tuple(warnings))


def score_sd_across(df: pd.DataFrame, outcome: str, factor: str) -> float:
    """SD of the headline score (mean outcome) across the levels of `factor`."""
    means = df.groupby(factor, observed=True)[outcome].mean()
    return float(means.std(ddof=1)) if len(means) > 1 else float("nan")
