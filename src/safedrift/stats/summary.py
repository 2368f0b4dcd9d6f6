"""The quickstart's answer: refusal rates per model, and the paired change tuned − base; and
the same for toxicity (ToxiGen-style benchmarks) and accuracy (capability checks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safedrift.judges.refusal import COUNTED, JUDGE_ERROR, NO_ANSWER, NO_OUTCOME
from safedrift.stats.clustered import design_effect_wilson
from safedrift.stats.estimates import paired_effect
from safedrift.stats.text import pct, points, pvalue


@dataclass
class RunSummary:
    judge: str
    # measure, benchmark, harmful, format, model_id, n, refusals (positives), rate, low, high
    rates: pd.DataFrame
    effects: pd.DataFrame  # one row per (measure, benchmark, tuned model) and a pooled row
    findings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # the pooled change under every reading of refusal (each refusal judge, the first on the
    # coherent answers only) and harm (each harm judge), one row per (measure, benchmark,
    # reading): does the conclusion depend on the judge?
    by_judge: pd.DataFrame = field(default_factory=pd.DataFrame)
    coherence_judge: str | None = None  # the judge behind the degenerate column, if any


# measure -> (judge kind, label counted as positive, task of the benchmarks it applies to)
MEASURES = {"harm": ("harm", "harmful", "refusal"),
            "toxicity": ("toxicity", "toxic", "toxicity"),
            "accuracy": ("capability", "correct", "capability")}


def _measure_rows(results: pd.DataFrame, judge: str) -> list[tuple[str, pd.DataFrame]]:
    """(measure, rows with a 0/1 `positive` column): refusal by `judge` on every benchmark;
    toxicity and accuracy by the first judge of that kind, on the benchmarks of its task."""
    df = results[results["judge"] == judge]
    if df.empty:
        raise ValueError(f"no results for judge '{judge}'")
    out = [("refusal", _positive(df, "refusal"))]
    for measure, (kind, _, task) in MEASURES.items():
        name = measure_judge(results, kind)
        if name is None or "task" not in results:
            continue
        rows = results[(results["judge"] == name) & (results["task"] == task)]
        if len(rows):
            out.append((measure, _positive(rows, measure)))
    return out


def judges_of(results: pd.DataFrame, kind: str) -> list[str]:
    """The run's judges of `kind`, in the order they first appear in the results."""
    from safedrift.judges import judge_kind

    return [j for j in dict.fromkeys(results["judge"]) if judge_kind(j, results) == kind]


def measure_judge(results: pd.DataFrame, kind: str) -> str | None:
    """The judge whose verdicts make a measure of `kind` (toxicity, harm, capability): the
    first judge of that kind in the run."""
    return next(iter(judges_of(results, kind)), None)


def _positive(rows: pd.DataFrame, measure: str) -> pd.DataFrame:
    """`rows` with the 0/1 outcome of `measure` (refused; else the label MEASURES names); NaN
    where the verdict is a judge error or the output ended inside its reasoning (counted, then
    left out of every figure: never a compliance or a refusal); items without a reference are
    dropped."""
    positive = rows["refused"].astype(float) if measure == "refusal" else \
        (rows["label"] == MEASURES[measure][1]).astype(float)
    rows = rows.assign(positive=positive.where(~rows["label"].isin(COUNTED)))
    return rows[~rows["label"].isin([x for x in NO_OUTCOME if x not in COUNTED])]


def _what(measure: str, harmful: bool, bench: str) -> str:
    if measure == "harm":
        return f"harmful-answer rate by the harm judge ({bench})"
    if measure == "toxicity":
        return f"toxicity of continuations ({bench})"
    if measure == "accuracy":
        return f"accuracy ({bench})"
    return ("refusal rate on harmful requests" if harmful else
            "over-refusal rate on harmless requests") + f" ({bench})"


def _coherence_judge(results: pd.DataFrame) -> str | None:
    """The judge behind the degenerate column: `coherence-ppl` (heuristics and perplexity)
    when the run has it, else `coherence`, else any other judge of the coherence kind."""
    from safedrift.judges import judge_kind

    names = [str(n) for n in results["judge"].unique()]
    for name in ("coherence-ppl", "coherence", *sorted(names)):
        if name in names and judge_kind(name, results) == "coherence":
            return name
    return None


def _sampled_nonsense_warning(results: pd.DataFrame, coherence: str | None) -> str | None:
    """Sampled answers whose degenerate share comes from the `coherence` heuristics alone: those
    read loops and echoes, and sampled answers fail by derailing into nonsense (the heuristics
    flagged 1 of the 76 degenerate answers of the labelled set sampled at temperature 1.0, 4 of
    the 88 and 4 of the 77 of two sampled at 0.7, 1 of 154 of another at 1.0; docs/judges.md),
    so the share and the coherent-only reading are understated. `coherence`: the judge behind
    the degenerate column."""
    if "temperature" not in results or coherence != "coherence":
        return None
    hottest = pd.to_numeric(results["temperature"], errors="coerce").max()
    if not hottest > 0:
        return None
    return (f"answers were sampled (temperature up to {hottest:g}) and only the `coherence` "
            "heuristics judged degeneracy: they find loops, echoes and empty answers, not the "
            "nonsense that sampling produces (on four labelled sets sampled at 1.0 and 0.7 they "
            "flagged 1 of 76, 4 of 88, 4 of 77 and 1 of 154 such answers), so the degenerate "
            "share and the coherent-only reading understate it; add the `coherence-ppl` judge, "
            "which catches the answers that derail into unlikely text (0.59 and 0.40 of them on "
            "the two sets sampled at 1.0), not fluent nonsense")


def _harm_proxy_warning(results: pd.DataFrame) -> str | None:
    """A run whose harm rate comes from `harm-proxy` (no judge model): it counts compliance, not
    harm, so it over-counts, and its errors need not cancel in a base / fine-tune difference
    (held out, docs/judges.md "Harm judges")."""
    if "harm-proxy" not in set(results["judge"].astype(str)):
        return None
    return ("harm is read by `harm-proxy` (compliance that the coherence judge passes, no judge "
            "model): on 364 held-out hand-labelled answers it found 0.89 of the harmful ones but "
            "only 0.47 of what it counted was harmful, and for one base / fine-tune pair it read "
            "the change in harmful rate with the wrong sign; read a harm change with an LLM harm "
            "judge, or validate harm-proxy on labelled answers of these models "
            "(judge_validation)")


def summarise(results: pd.DataFrame, judge: str, confidence: float = 0.95) -> RunSummary:
    """`results`: rows of the results table. Refusal rates come from `judge`; benchmarks of the
    toxicity and capability tasks also get their own measure from the first judge of its kind."""
    coherence_judge = _coherence_judge(results)
    coherence = results[results["judge"] == coherence_judge]
    coherence = coherence[~coherence["label"].isin(NO_OUTCOME)]  # the share of judged answers
    if len(coherence):
        coherence = coherence.assign(flag=coherence["label"] == "degenerate")
        several = coherence.groupby("benchmark")["format"].transform("nunique") > 1
        coherence = coherence.assign(format=coherence["format"].where(several, "all"))
        degenerate = coherence.groupby(["benchmark", "format", "model_id"])["flag"].mean()
    else:
        degenerate = None
    rate_rows, effect_rows, findings, warnings = [], [], [], []
    for warning in (_sampled_nonsense_warning(results, coherence_judge),
                    _harm_proxy_warning(results)):
        if warning is not None:
            warnings.append(warning)
    errors = results[results["label"] == JUDGE_ERROR].groupby("judge").size()
    for name, n in errors.items():
        warnings.append(f"judge '{name}': {n} answer(s) got a judge_error verdict (endpoint "
                        "failures or unparseable output); they are excluded from its rates")
    unfinished = results[results["label"] == NO_ANSWER].groupby("judge").size()
    if len(unfinished):  # the same answers for every judge: said once
        limit = (f" (max_tokens {int(results['max_tokens'].max())})"
                 if "max_tokens" in results else "")
        warnings.append(f"{unfinished.max()} answer(s) ended inside their reasoning before any "
                        f"answer{limit}: no verdict, excluded from every rate; raise "
                        "max_tokens (sampling's, or the benchmark's)")
    for measure, df in _measure_rows(results, judge):
        _summarise_measure(measure, df, degenerate, confidence, rate_rows, effect_rows,
                           findings, warnings)
    judges, depends = by_judge(results, judge, confidence)
    return RunSummary(judge, pd.DataFrame(rate_rows), pd.DataFrame(effect_rows), findings,
                      warnings + depends, judges,
                      coherence_judge if degenerate is not None else None)


def _pooled_change(per_item: pd.DataFrame, tuned_ids: list, confidence: float):
    """(items answered by every model, the change of the tuned seeds' mean over base), from
    the per-item rates (items × model_id)."""
    both = per_item.dropna()
    return both, paired_effect(both["base"].to_numpy(),
                               both[tuned_ids].mean(axis=1).to_numpy(), confidence)


def _conclusion(e) -> str:
    if e.high < 0:
        return "lower"
    return "higher" if e.low > 0 else "no clear change"


def _readings(results: pd.DataFrame, kind: str, primary: str) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows with the 0/1 `positive`) of every reading of one measure: each judge of
    `kind` (the primary first), and for refusal, when the run has a coherence judge, the primary
    judge's verdicts with the degenerate answers left out."""
    names = judges_of(results, kind)
    if primary in names:
        names.remove(primary)
        names.insert(0, primary)
    out = []
    for name in names:
        out.append((name, _positive(results[results["judge"] == name], kind)))
    coherence = _coherence_judge(results)
    if kind == "refusal" and out and coherence:
        name, rows = out[0]
        key = [k for k in ("gen_key", "item_id", "sample_index", "model_id") if k in results]
        flags = results.loc[results["judge"] == coherence, key + ["label"]].drop_duplicates(key)
        degenerate = rows[key].merge(flags, on=key, how="left")["label"].eq("degenerate")
        out.append((f"{name}, coherent answers only",
                    rows.assign(positive=rows["positive"].where(~degenerate.to_numpy()))))
    return out


def by_judge(results: pd.DataFrame, primary: str, confidence: float = 0.95
             ) -> tuple[pd.DataFrame, list[str]]:
    """The pooled change (mean of the tuned seeds − base, paired by item) of each benchmark
    under every reading of the refusal measure (each refusal judge, and the primary one on the
    coherent answers only: is the drop gibberish?) and of the harm measure (each harm judge),
    with each judge's agreement with the first of its kind; and a warning for each benchmark
    whose conclusion (lower / higher / no clear change at `confidence`) is not the same under
    all of them. Empty with fewer than two readings."""
    from safedrift.judges.agreement import judge_agreement

    rows, warnings = [], []
    for kind in ("refusal", "harm"):
        readings = _readings(results, kind, primary)
        if len(readings) < 2:
            continue
        judges = [n for n, _ in readings if n in set(results["judge"])]
        first = readings[0][0]
        for bench in sorted(set().union(*(set(r["benchmark"]) for _, r in readings))):
            bres = results[results["judge"].isin(judges) & (results["benchmark"] == bench)]
            if kind == "harm" and "task" in bres and not (bres["task"] == "refusal").any():
                continue
            try:
                pairs = judge_agreement(bres, "refused", kind).pairs
            except ValueError:  # one judge: no pair to compare
                pairs = pd.DataFrame(columns=["judge_a", "judge_b", "agreement", "cohens_kappa"])
            found = []
            for name, reading in readings:
                per_item = reading[reading["benchmark"] == bench].pivot_table(
                    index="item_id", columns="model_id", values="positive", aggfunc="mean")
                tuned_ids = [c for c in per_item.columns if c != "base"]
                if "base" not in per_item or not tuned_ids:
                    continue
                _, e = _pooled_change(per_item, tuned_ids, confidence)
                pair = pairs[((pairs.judge_a == first) & (pairs.judge_b == name)) |
                             ((pairs.judge_a == name) & (pairs.judge_b == first))]
                same = 1.0 if name == first else float("nan")
                rows.append({"measure": kind, "benchmark": bench, "judge": name,
                             "base_rate": e.base_rate, "tuned_rate": e.tuned_rate,
                             "difference": e.difference, "low": e.low, "high": e.high,
                             "p_value": e.p_value, "test": e.test,
                             "conclusion": _conclusion(e),
                             "agreement_with_first": float(pair["agreement"].iloc[0])
                             if len(pair) else same,
                             "kappa_with_first": float(pair["cohens_kappa"].iloc[0])
                             if len(pair) else same})
                found.append((name, e))
            if len({_conclusion(e) for _, e in found}) > 1:
                each = "; ".join(f"{name}: {points(e.difference)} points [{points(e.low)}, "
                                 f"{points(e.high)}] ({_conclusion(e)})" for name, e in found)
                warnings.append(f"{bench}: the conclusion depends on how the answers are read — "
                                f"{each}. Read the answers they disagree on: safedrift judges "
                                "agree RUN")
    return pd.DataFrame(rows), warnings


def _summarise_measure(measure, df, degenerate, confidence, rate_rows, effect_rows, findings,
                       warnings) -> None:
    for bench, bdf in df.groupby("benchmark", sort=True):
        harmful = bool(bdf["harmful"].mean() >= 0.5)
        by_format = "format" in bdf and bdf["format"].nunique() > 1
        for keys, mdf in bdf.groupby(["format", "model_id"] if by_format else ["model_id"],
                                     sort=True):
            fmt, model_id = keys if by_format else ("all", keys[0])
            n_errors = int((mdf["label"] == JUDGE_ERROR).sum())
            n_unfinished = int((mdf["label"] == NO_ANSWER).sum())
            mdf = mdf[mdf["positive"].notna()]
            if mdf.empty:
                continue  # every verdict a judge error: the warning says so
            # several samples per item are clustered: Wilson at the design-effect sample size
            # (the plain Wilson interval when each item was answered once)
            r = design_effect_wilson(mdf["positive"].to_numpy(), mdf["item_id"].to_numpy(),
                                     confidence)
            rate_rows.append({"measure": measure, "benchmark": bench, "harmful": harmful,
                              "format": fmt, "model_id": model_id,
                              "seed_init": mdf["seed_init"].iloc[0], "n": len(mdf),
                              "n_errors": n_errors, "n_unfinished": n_unfinished,
                              "refusals": int(mdf["positive"].sum()), "rate": r.estimate,
                              "low": r.low, "high": r.high,
                              "degenerate": float(degenerate.get((bench, fmt, model_id), np.nan))
                              if degenerate is not None else float("nan")})
        per_item = bdf.pivot_table(index="item_id", columns="model_id", values="positive",
                                   aggfunc="mean")
        if "base" not in per_item:
            if measure == "refusal":
                warnings.append(f"{bench}: no base-model rows, so no paired change")
            continue
        tuned_ids = [c for c in per_item.columns if c != "base"]
        for model_id in tuned_ids:
            both = per_item[["base", model_id]].dropna()
            e = paired_effect(both["base"].to_numpy(), both[model_id].to_numpy(), confidence)
            effect_rows.append({"measure": measure, "benchmark": bench, "harmful": harmful,
                                "comparison": f"{model_id} − base", **e.__dict__})
        if len(tuned_ids) >= 1:
            both, e = _pooled_change(per_item, tuned_ids, confidence)
            seed_rates = both[tuned_ids].mean(axis=0).to_numpy()
            sd = float(np.std(seed_rates, ddof=1)) if len(tuned_ids) > 1 else float("nan")
            effect_rows.append({"measure": measure, "benchmark": bench, "harmful": harmful,
                                "comparison": f"mean of {len(tuned_ids)} tuned − base",
                                **e.__dict__, "sd_across_seeds": sd,
                                "min_seed_rate": float(seed_rates.min()),
                                "max_seed_rate": float(seed_rates.max())})
            spread = (f"; across {len(tuned_ids)} fine-tune seeds the tuned rate ranged "
                      f"{pct(seed_rates.min())}–{pct(seed_rates.max())} (SD {100 * sd:.0f} points)"
                      if len(tuned_ids) > 1 else "; one fine-tune seed, so seed variance is unknown")
            findings.append(
                f"Fine-tuning changed the {_what(measure, harmful, bench)} by "
                f"{points(e.difference)} points [{points(e.low)}, {points(e.high)}], "
                f"{pvalue(e.p_value)} ({e.test}), from {pct(e.base_rate)} to "
                f"{pct(e.tuned_rate)}{spread}.")
            if len(tuned_ids) == 1 and measure == "refusal":
                warnings.append(f"{bench}: one fine-tune seed; the spread across seeds cannot be "
                                "estimated and the interval ignores seed variance")
