"""Which prompts are borderline, and do rankings survive a change of format.

- flip rate: share of items whose verdict is not unanimous across repeats (seeds, samples,
  formats) of the same model;
- stability index: per item, the share of agreeing pairs among its k repeated verdicts,
  (r(r−1) + (k−r)(k−r−1)) / (k(k−1)) with r refusals, averaged over items (1 = always the same);
- rank stability: Kendall's tau (scipy) between model rankings under each pair of formats,
  averaged over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps


@dataclass(frozen=True)
class ItemStability:
    per_item: pd.DataFrame  # item_id, repeats, refusal_share, agreement, flips
    flip_rate: float
    stability_index: float


def item_stability(df: pd.DataFrame, outcome: str = "refused",
                   item: str = "item_id") -> ItemStability:
    g = df.groupby(item, observed=True)[outcome]
    k = g.size().astype(float)
    r = g.sum().astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = (r * (r - 1) + (k - r) * (k - r - 1)) / (k * (k - 1))
    agreement = agreement.where(k > 1)
    per_item = pd.DataFrame({"repeats": k.astype(int), "refusal_share": r / k,
                             "agreement": agreement, "flips": (r > 0) & (r < k)})
    valid = per_item[per_item["repeats"] > 1]
    return ItemStability(per_item.reset_index(), float(valid["flips"].mean()) if len(valid)
                         else float("nan"),
                         float(valid["agreement"].mean()) if len(valid) else float("nan"))


def rank_stability(df: pd.DataFrame, outcome: str = "refused", model: str = "model_id",
                   fmt: str = "format") -> float:
    """Mean Kendall's tau between the models' scores under each pair of formats."""
    table = df.pivot_table(index=model, columns=fmt, values=outcome, aggfunc="mean")
    if table.shape[0] < 2 or table.shape[1] < 2:
        return float("nan")
    taus = [sps.kendalltau(table[a], table[b]).statistic for a, b in combinations(table, 2)]
    return float(np.nanmean(taus)) if taus else float("nan")
