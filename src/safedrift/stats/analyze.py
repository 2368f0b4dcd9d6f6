"""`analyze`: every estimate a reviewer asks for, from a table of judged responses.

Input: one row per judged response with columns `model` (e.g. base / tuned), `benchmark`,
`item_id`, `refused` (0/1), and where the design has them `finetune_seed`, `format`,
`sample_index`, `judge`. `from_results` builds that frame from safedrift's results table.

Output: an `Analysis` with a tidy DataFrame of estimates (one row per quantity, with interval,
p-values raw / Holm / Benjamini–Hochberg and the method used), variance components, item
stability and plain-language findings. Small designs (one seed, one sample) get exact methods
and a warning for what cannot be estimated, never a crash or a silent NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safedrift.judges.refusal import NO_OUTCOME
from safedrift.stats.clustered import cluster_bootstrap_mean, design_effect_wilson
from safedrift.stats.decisions import (
    Design,
    adjust_pvalues,
    minimum_detectable_effect,
    prob_safer,
    seeds_needed,
)
from safedrift.stats.estimates import (
    cohens_h,
    paired_effect,
    sign_flip_test,
)
from safedrift.stats.stability import item_stability, rank_stability
from safedrift.stats.text import points, pvalue
from safedrift.stats.variance import (
    VarianceComponents,
    score_sd_across,
    variance_components,
)

REPEAT_FACTORS = ("finetune_seed", "format", "sample_index", "judge")


@dataclass
class Analysis:
    estimates: pd.DataFrame
    variance: dict[tuple[str, str], VarianceComponents] = field(default_factory=dict)
    stability: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# the positive class of judges that do not judge refusal; their rows' 0/1 outcome is whether
# the verdict is that class (the analysis calls the outcome "refused" whatever the judge)
POSITIVE = {"toxicity": "toxic", "harm": "harmful", "capability": "correct",
            "coherence": "degenerate"}


def from_results(results: pd.DataFrame) -> pd.DataFrame:
    """safedrift's results table (one judge's rows) → the analysis frame (model = base /
    tuned). Verdicts that carry no outcome (judge_error, no_answer, no_reference) are left out;
    `attrs["left_out"]` says how many of each, and `analyze` warns about them."""
    from safedrift.judges import judge_kind

    left_out = results.loc[results["label"].isin(NO_OUTCOME), "label"].value_counts()
    results = results[~results["label"].isin(NO_OUTCOME)]
    kinds = {j: judge_kind(j, results) for j in results["judge"].unique()}
    kind = results["judge"].map(kinds)
    outcome = np.where(kind == "refusal", results["refused"].astype(bool),
                       results["label"] == kind.map(POSITIVE))
    # base is the model_id "base"; served variants (backend openai) have no adapter or seeds,
    # so their name stands for the fine-tune seed
    is_base = (results["model_id"] == "base") if "model_id" in results else \
        results["adapter_key"].isna()
    seeds = (results["seed_init"].astype(str) + "-" + results["seed_data_order"].astype(str)
             + "-" + results["seed_dropout"].astype(str))
    if "model_id" in results:
        seeds = seeds.where(results["seed_init"].notna() | is_base, results["model_id"])
    df = pd.DataFrame({
        "model": np.where(is_base, "base", "tuned"),
        "benchmark": results["benchmark"], "item_id": results["item_id"],
        "refused": outcome.astype(float),
        "finetune_seed": seeds,
        "format": results["format"], "sample_index": results["sample_index"],
        "judge": results["judge"], "harmful": results["harmful"],
        "category": results["category"]})
    df.attrs["left_out"] = {str(k): int(v) for k, v in left_out.items()}
    return df


_LEFT_OUT = {"judge_error": "got a judge_error verdict (endpoint failures or unparseable "
                            "output)",
             "no_answer": "ended inside their reasoning before any answer (raise max_tokens)",
             "no_reference": "have no reference answer to check"}


def _present(df: pd.DataFrame) -> list[str]:
    return [f for f in REPEAT_FACTORS if f in df and df[f].nunique() > 1]


def _row(quantity, benchmark, model, estimate, low, high, method, **extra) -> dict:
    return {"quantity": quantity, "benchmark": benchmark, "model": model, "estimate": estimate,
            "low": low, "high": high, "method": method, **extra}


def analyze(df: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 2000,
            seed: int = 0, base: str = "base") -> Analysis:
    need = {"model", "benchmark", "item_id", "refused"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"analysis frame lacks columns: {', '.join(sorted(missing))}")
    rows, variance, stab_rows, findings, warnings = [], {}, [], [], []
    for label, n in df.attrs.get("left_out", {}).items():
        warnings.append(f"{n} answer(s) {_LEFT_OUT.get(label, label)}: left out of every "
                        "estimate")
    df = df.assign(refused=df["refused"].astype(float))

    # Rates of every benchmark × model; items (and fine-tune seeds) are the clusters. One answer
    # per item gives the plain Wilson interval.
    for (bench, model), sub in df.groupby(["benchmark", "model"], sort=True):
        y, items = sub["refused"].to_numpy(), sub["item_id"].to_numpy()
        if "finetune_seed" in sub and sub["finetune_seed"].nunique() > 1:
            b = cluster_bootstrap_mean(y, items, sub["finetune_seed"].to_numpy(), n_resamples,
                                       confidence, seed)
            r = design_effect_wilson(y, items, confidence, se=b.se,
                                     source="items × seeds (bootstrap SE)")
        else:
            r = design_effect_wilson(y, items, confidence)
        rows.append(_row("refusal rate", bench, model, r.estimate, r.low, r.high, r.method,
                         n_rows=len(sub), n_items=sub["item_id"].nunique(), n_eff=r.n_eff))

    for bench, bdf in df.groupby("benchmark", sort=True):
        models = sorted(bdf["model"].unique())
        for model, mdf in bdf.groupby("model", sort=True):
            st = item_stability(mdf)
            if not np.isnan(st.flip_rate):
                stab_rows.append({"benchmark": bench, "model": model, "flip_rate": st.flip_rate,
                                  "stability_index": st.stability_index,
                                  "n_items": len(st.per_item)})
            factors = _present(mdf)
            if factors:
                vc = variance_components(mdf, "refused", [*factors, "item_id"])
                variance[(bench, model)] = vc
                warnings += [f"{bench}/{model}: {w}" for w in vc.warnings]
                for r in vc.table.itertuples():
                    rows.append(_row("variance share", bench, model, r.share, np.nan, np.nan,
                                     "random-effects ANOVA (method of moments)",
                                     factor=r.factor, variance=r.variance))
                rows.append(_row("ICC (item)", bench, model, vc.share("item_id"), np.nan,
                                 np.nan, "item variance / total variance", factor="item_id"))
                for f in factors:
                    rows.append(_row("score SD", bench, model, score_sd_across(mdf, "refused", f),
                                     np.nan, np.nan, f"SD of the rate across {f}", factor=f))
        if "format" in bdf and bdf["format"].nunique() > 1 and len(models) > 1:
            rows.append(_row("rank stability", bench, "all", rank_stability(
                bdf, "refused", "model", "format"), np.nan, np.nan,
                "mean Kendall tau across format pairs"))
        if base not in models:
            continue
        for model in [m for m in models if m != base]:
            rows.append(_effect(bdf, bench, base, model, confidence, n_resamples, seed,
                                warnings, findings, variance))
            for by in ("category", "format"):
                if by not in bdf or bdf[by].nunique() < 2:
                    continue
                small = []
                for level, ldf in bdf.groupby(by, sort=True):
                    r = _effect(ldf, bench, base, model, confidence, n_resamples, seed, [],
                                [], {})
                    rows.append({**r, "quantity": f"change by {by}", by: level})
                    if r["n_items"] < 10:
                        small.append(str(level))
                if small:
                    warnings.append(f"{bench}: fewer than 10 items in {by} {', '.join(small)}; "
                                    "their intervals and tests are rough")

    est_df = pd.DataFrame(rows)
    # Multiplicity: one family of every tuned − base comparison (benchmarks × categories ×
    # formats × models).
    tests = est_df["quantity"].str.startswith("change")
    if tests.any():
        est_df.loc[tests, "p_holm"] = adjust_pvalues(est_df.loc[tests, "p_value"], "holm")
        est_df.loc[tests, "p_bh"] = adjust_pvalues(est_df.loc[tests, "p_value"], "fdr_bh")
    return Analysis(est_df, variance, pd.DataFrame(stab_rows), findings, warnings)


def _effect(bdf, bench, base, model, confidence, n_resamples, seed, warnings, findings,
            variance) -> dict:
    b = bdf[bdf["model"] == base]
    t = bdf[bdf["model"] == model]
    items = sorted(set(b["item_id"]) & set(t["item_id"]))
    b_item = b.groupby("item_id")["refused"].mean().loc[items]
    t_item = t.groupby("item_id")["refused"].mean().loc[items]
    single = (b.groupby("item_id").size().max() == 1 and t.groupby("item_id").size().max() == 1)
    seeds = t["finetune_seed"].nunique() if "finetune_seed" in t else 1
    if single:
        e = paired_effect(b_item.to_numpy(), t_item.to_numpy(), confidence)
        low, high, p, method = e.low, e.high, e.p_value, f"{e.test}; {e.interval_method}"
        warnings.append(f"{bench}: one fine-tune seed and one sample per item: exact McNemar; "
                        "seed and sampling variance cannot be estimated")
    else:
        # Resample items; for the tuned side also resample fine-tune seeds (crossed).
        t_items = t[t["item_id"].isin(items)]
        base_mean = b_item.to_dict()
        d = t_items["refused"].to_numpy() - t_items["item_id"].map(base_mean).to_numpy()
        boot = cluster_bootstrap_mean(
            d, t_items["item_id"].to_numpy(),
            t_items["finetune_seed"].to_numpy() if seeds > 1 else None,
            n_resamples, confidence, seed)
        low, high = boot.low, boot.high
        p = sign_flip_test((t_item - b_item).to_numpy(), seed=seed)
        method = f"{boot.method}; sign-flip permutation test over items"
        if seeds == 1:
            warnings.append(f"{bench}: one fine-tune seed: the interval ignores seed variance")
    diff = float(t_item.mean() - b_item.mean())
    pb, pt = float(b_item.mean()), float(t_item.mean())
    odds = ((pt + 1e-9) / (1 - pt + 1e-9)) / ((pb + 1e-9) / (1 - pb + 1e-9))
    extra = {"p_value": p, "base_rate": pb, "tuned_rate": pt, "odds_ratio": odds,
             "cohens_h": cohens_h(pt, pb), "n_items": len(items), "n_seeds": seeds}
    vc = variance.get((bench, model))
    if seeds > 1:
        seed_rates = t.groupby("finetune_seed")["refused"].mean()
        extra["prob_tuned_safer"] = prob_safer(seed_rates.to_numpy(), [pb])
        if vc is not None:
            tab = vc.table.set_index("factor")["variance"]
            samples = int(t.groupby(["item_id", "finetune_seed"]).size().median())
            design = Design(float(tab.get("finetune_seed", 0.0)), float(tab["residual"]),
                            len(items), samples)
            extra["mde_80"] = minimum_detectable_effect(design, seeds)
            extra["seeds_needed_80"] = seeds_needed(diff, design) if diff else None
    direction = "lowered" if diff < 0 else "raised"
    share = ""
    if vc is not None:
        top = vc.table[vc.table.factor != "residual"].sort_values("share").iloc[-1]
        if top.share > 0:
            share = f"; {100 * top.share:.0f}% of the variance comes from {top.factor}"
    findings.append(f"Fine-tuning ({model}) {direction} the refusal rate on {bench} by "
                    f"{abs(100 * diff):.0f} points [{points(low)}, {points(high)}], "
                    f"{pvalue(p)}{share}.")
    return _row("change", bench, model, diff, low, high, method, **extra)
