"""How often judges agree on the same answers.

Pairwise: raw agreement and Cohen's kappa (Cohen 1960), κ = (p_o − p_e) / (1 − p_e), computed by
statsmodels from the confusion table of the two judges' labels. All judges together: Fleiss'
kappa (Fleiss 1971, statsmodels). Disagreements lists each answer on which the judges differ.
Answers where an LLM judge returned `judge_error` are left out (an error is not a verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from safedrift.judges.refusal import NO_OUTCOME

KEY = ["run_id", "gen_key", "item_id", "sample_index"]


@dataclass(frozen=True)
class Agreement:
    judges: tuple[str, ...]
    field: str
    pairs: pd.DataFrame  # judge_a, judge_b, n, agreement, cohens_kappa
    fleiss_kappa: float
    disagreements: pd.DataFrame  # one row per answer the judges label differently


def judge_agreement(results: pd.DataFrame, field: str = "refused",
                    kind: str = "refusal") -> Agreement:
    """Agreement among the judges of one `kind` (one label space: refusal, coherence, toxicity,
    harm). `field` (refusal judges): "refused" (binary) or "label" (full / partial refusal /
    compliance); judges of other kinds are compared on their label."""
    from safedrift.judges import judge_kind

    kinds = {j: judge_kind(j, results) for j in results["judge"].unique()}
    results = results[results["judge"].map(kinds) == kind]
    if "label" in results:  # an LLM judge's error is no verdict: that answer is not compared
        results = results[~results["label"].isin(NO_OUTCOME)]
    if kind != "refusal":
        field = "label"
    key = [k for k in KEY if k in results]
    wide = results.pivot_table(index=key, columns="judge", values=field, aggfunc="first")
    judges = tuple(wide.columns)
    if len(judges) < 2:
        raise ValueError(f"agreement needs two {kind} judges; these results have "
                         f"{list(judges)}")
    wide = wide.dropna()
    rows = []
    for a, b in combinations(judges, 2):
        x, y = wide[a].astype(str), wide[b].astype(str)
        cats = sorted(set(x) | set(y))
        table = pd.crosstab(pd.Categorical(x, cats), pd.Categorical(y, cats), dropna=False)
        kappa = float(cohens_kappa(table.to_numpy()).kappa) if len(cats) > 1 else 1.0
        rows.append({"judge_a": a, "judge_b": b, "n": len(wide),
                     "agreement": float(np.mean(x.to_numpy() == y.to_numpy())),
                     "cohens_kappa": kappa})
    counts, _ = aggregate_raters(wide.astype(str).to_numpy())
    fk = float(fleiss_kappa(counts)) if counts.shape[1] > 1 else 1.0
    differ = wide.astype(str).nunique(axis=1) > 1
    extra = [c for c in ("model_id", "benchmark", "prompt", "response") if c in results]
    info = results.drop_duplicates(key).set_index(key)[extra]
    disagreements = wide[differ].join(info).reset_index()
    return Agreement(judges, field, pd.DataFrame(rows), fk, disagreements)
