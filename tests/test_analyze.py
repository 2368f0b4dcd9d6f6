"""`analyze` on frames with known structure: small exact designs, full crossed designs."""

import numpy as np
import pandas as pd
import pytest

from safedrift.stats.analyze import analyze
from safedrift.stats.estimates import paired_effect, wilson_rate


def _design(rng, n_items=60, seeds=4, formats=3, samples=2, drop=-0.3, seed_sd=0.08):
    item_p = rng.beta(3, 2, n_items)
    rows = []
    for i, p in enumerate(item_p):
        for f in range(formats):
            for s in range(samples):
                rows.append(("base", "b0", f"f{f}", s, i, rng.random() < p))
        for k in range(seeds):
            shift = drop + rng.normal(0, seed_sd)
            for f in range(formats):
                for s in range(samples):
                    rows.append(("tuned", f"s{k}", f"f{f}", s, i,
                                 rng.random() < np.clip(p + shift, 0, 1)))
    df = pd.DataFrame(rows, columns=["model", "finetune_seed", "format", "sample_index",
                                     "item_id", "refused"])
    df["benchmark"] = "bench"
    return df


def test_small_design_uses_exact_methods_and_warns():
    rng = np.random.default_rng(0)
    base = rng.random(30) < 0.7
    tuned = np.where(rng.random(30) < 0.5, False, base)
    df = pd.DataFrame({"model": ["base"] * 30 + ["tuned"] * 30, "benchmark": "b",
                       "item_id": list(range(30)) * 2,
                       "refused": np.concatenate([base, tuned]).astype(float)})
    a = analyze(df)
    rate = a.estimates[(a.estimates.quantity == "refusal rate") & (a.estimates.model == "base")]
    ref = wilson_rate(int(base.sum()), 30)
    assert rate["method"].item() == "Wilson" and rate["low"].item() == pytest.approx(ref.low)
    change = a.estimates[a.estimates.quantity == "change"].iloc[0]
    assert change.p_value == paired_effect(base.astype(float), tuned.astype(float)).p_value
    assert "McNemar" in change.method
    assert any("cannot be estimated" in w for w in a.warnings)
    assert not np.isnan(change.low) and len(a.findings) == 1


def test_full_design_reports_every_quantity():
    df = _design(np.random.default_rng(1))
    a = analyze(df, n_resamples=1000)
    q = set(a.estimates["quantity"])
    assert {"refusal rate", "change", "variance share", "score SD"} <= q
    change = a.estimates[a.estimates.quantity == "change"].iloc[0]
    assert change.low < -0.3 < change.high  # the simulated drop is inside the interval
    assert change.p_value < 0.001 and change.p_holm >= change.p_value
    assert 0 <= change.prob_tuned_safer <= 1 and change.mde_80 > 0
    shares = a.estimates[(a.estimates.quantity == "variance share")
                         & (a.estimates.model == "tuned")].set_index("factor")["estimate"]
    assert shares.sum() == pytest.approx(1.0)
    assert shares["item_id"] > shares["format"]  # formats have no simulated effect
    assert set(a.stability["model"]) == {"base", "tuned"}
    assert "points" in a.findings[0]
    assert a.estimates[a.estimates.quantity == "ICC (item)"]["estimate"].notna().all()
    by_format = a.estimates[a.estimates.quantity == "change by format"]
    assert len(by_format) == 3 and by_format["p_holm"].notna().all()
    # Holm over the whole family: never below the raw p-value
    fam = a.estimates[a.estimates.quantity.str.startswith("change")]
    assert (fam["p_holm"] >= fam["p_value"] - 1e-12).all()
    tuned_rate = a.estimates[(a.estimates.quantity == "refusal rate")
                             & (a.estimates.model == "tuned")].iloc[0]
    assert "seeds" in tuned_rate.method  # several seeds: resampled too


def test_change_interval_covers_the_truth_across_simulations():
    """True drop: tuned rate minus base rate in the simulated population, E over items and
    seeds. The crossed item × seed bootstrap should cover it about 95% of the time."""
    hits, reps = 0, 120
    for r in range(reps):
        rng = np.random.default_rng(100 + r)
        df = _design(rng, n_items=40, seeds=4, formats=1, samples=2, drop=-0.2, seed_sd=0.05)
        a = analyze(df, n_resamples=500, seed=r)
        change = a.estimates[a.estimates.quantity == "change"].iloc[0]
        # clip(p - 0.2 + noise) makes the truth slightly smaller than 0.2 in size
        truth = _true_drop(-0.2, 0.05)
        hits += change.low <= truth <= change.high
    assert 0.88 <= hits / reps <= 1.0


def _true_drop(drop, seed_sd, n=400_000):
    rng = np.random.default_rng(0)
    p = rng.beta(3, 2, n)
    return float(np.mean(np.clip(p + drop + rng.normal(0, seed_sd, n), 0, 1) - p))


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="item_id"):
        analyze(pd.DataFrame({"model": [], "benchmark": [], "refused": []}))


def test_from_results_uses_each_judge_kinds_positive_class():
    """Toxicity rows count 'toxic' as the outcome; judge errors and unscored items drop out."""
    import pandas as pd

    from safedrift.stats.analyze import from_results

    rows = pd.DataFrame({
        "adapter_key": [None, None, "k", "k"], "benchmark": "toxigen",
        "item_id": ["a", "b", "a", "b"], "refused": False,
        "label": ["toxic", "non_toxic", "judge_error", "toxic"],
        "judge": "toxicity", "judge_kind": "toxicity", "seed_init": [None, None, 0, 0],
        "seed_data_order": [None, None, 0, 0], "seed_dropout": [None, None, 0, 0],
        "format": "raw", "sample_index": 0, "harmful": True, "category": "women"})
    f = from_results(rows)
    assert list(f["refused"]) == [1.0, 0.0, 1.0] and list(f["model"]) == ["base", "base",
                                                                          "tuned"]
    assert f.attrs["left_out"] == {"judge_error": 1}  # left out, and said so
    assert any(w.startswith("1 answer(s) got a judge_error") for w in analyze(f).warnings)


def test_served_variants_count_as_tuned_models():
    """Backend openai: variants have names but no adapter; each name is its own 'seed'."""
    import pandas as pd

    from safedrift.stats.analyze import from_results

    rows = pd.DataFrame({
        "model_id": ["base", "lora-a", "lora-b"], "adapter_key": None, "benchmark": "b",
        "item_id": "i", "refused": [True, False, True], "label": "x", "judge": "refusal",
        "seed_init": None, "seed_data_order": None, "seed_dropout": None, "format": "chat",
        "sample_index": 0, "harmful": True, "category": "c"})
    f = from_results(rows)
    assert list(f["model"]) == ["base", "tuned", "tuned"]
    assert list(f["finetune_seed"])[1:] == ["lora-a", "lora-b"]
