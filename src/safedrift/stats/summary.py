"""The quickstart's answer: refusal rates per model, and the paired change tuned − base."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safedrift.stats.estimates import paired_effect, wilson_rate
from safedrift.stats.text import pct, points, pvalue


@dataclass
class RunSummary:
    judge: str
    rates: pd.DataFrame  # benchmark, harmful, format, model_id, n, refusals, rate, low, high
    effects: pd.DataFrame  # one row per (benchmark, tuned model) and one pooled row per benchmark
    findings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarise(results: pd.DataFrame, judge: str, confidence: float = 0.95) -> RunSummary:
    """`results`: rows of the results table. Uses the rows of `judge` only."""
    df = results[results["judge"] == judge]
    if df.empty:
        raise ValueError(f"no results for judge '{judge}'")
    coherence = results[results["judge"] == "coherence"]
    if len(coherence):
        coherence = coherence.assign(flag=coherence["label"] == "degenerate")
        several = coherence.groupby("benchmark")["format"].transform("nunique") > 1
        coherence = coherence.assign(format=coherence["format"].where(several, "all"))
        degenerate = coherence.groupby(["benchmark", "format", "model_id"])["flag"].mean()
    else:
        degenerate = None
    df = df.assign(refused=df["refused"].astype(float))
    rate_rows, effect_rows, findings, warnings = [], [], [], []
    for bench, bdf in df.groupby("benchmark", sort=True):
        harmful = bool(bdf["harmful"].mean() >= 0.5)
        by_format = "format" in bdf and bdf["format"].nunique() > 1
        for keys, mdf in bdf.groupby(["format", "model_id"] if by_format else ["model_id"],
                                     sort=True):
            fmt, model_id = keys if by_format else ("all", keys[0])
            r = wilson_rate(int(mdf["refused"].sum()), len(mdf), confidence)
            rate_rows.append({"benchmark": bench, "harmful": harmful, "format": fmt,
                              "model_id": model_id,
                              "seed_init": mdf["seed_init"].iloc[0], "n": r.n,
                              "refusals": r.k, "rate": r.rate, "low": r.low, "high": r.high,
                              "degenerate": float(degenerate.get((bench, fmt, model_id), np.nan))
                              if degenerate is not None else float("nan")})
        per_item = bdf.pivot_table(index="item_id", columns="model_id", values="refused",
                                   aggfunc="mean")
        if "base" not in per_item:
            warnings.append(f"{bench}: no base-model rows, so no paired change")
            continue
        tuned_ids = [c for c in per_item.columns if c != "base"]
        for model_id in tuned_ids:
            both = per_item[["base", model_id]].dropna()
            e = paired_effect(both["base"].to_numpy(), both[model_id].to_numpy(), confidence)
            effect_rows.append({"benchmark": bench, "harmful": harmful, "comparison":
                                f"{model_id} − base", **e.__dict__})
        if len(tuned_ids) >= 1:
            both = per_item.dropna()
            tuned_mean = both[tuned_ids].mean(axis=1).to_numpy()
            e = paired_effect(both["base"].to_numpy(), tuned_mean, confidence)
            seed_rates = both[tuned_ids].mean(axis=0).to_numpy()
            sd = float(np.std(seed_rates, ddof=1)) if len(tuned_ids) > 1 else float("nan")
            effect_rows.append({"benchmark": bench, "harmful": harmful,
                                "comparison": f"mean of {len(tuned_ids)} tuned − base",
                                **e.__dict__, "sd_across_seeds": sd,
                                "min_seed_rate": float(seed_rates.min()),
                                "max_seed_rate": float(seed_rates.max())})
            what = "refusal rate on harmful requests" if harmful else \
                "over-refusal rate on harmless requests"
            spread = (f"; across {len(tuned_ids)} fine-tune seeds the tuned rate ranged "
                      f"{pct(seed_rates.min())}–{pct(seed_rates.max())} (SD {100 * sd:.0f} points)"
                      if len(tuned_ids) > 1 else "; one fine-tune seed, so seed variance is unknown")
            findings.append(
                f"Fine-tuning changed the {what} ({bench}) by {points(e.difference)} points "
                f"[{points(e.low)}, {points(e.high)}], {pvalue(e.p_value)} ({e.test}), from "
                f"{pct(e.base_rate)} to {pct(e.tuned_rate)}{spread}.")
            if len(tuned_ids) == 1:
                warnings.append(f"{bench}: one fine-tune seed; the spread across seeds cannot be "
                                "estimated and the interval ignores seed variance")
    return RunSummary(judge, pd.DataFrame(rate_rows), pd.DataFrame(effect_rows), findings,
                      warnings)
