"""Design-aware statistics checked against statsmodels and against simulations with known
truth (fixed seeds, so the checks are exact repeats, not flaky)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.formula.api import ols

from safedrift.stats.clustered import (cluster_bootstrap_mean, cluster_robust_mean,
                                       design_effect_wilson)
from safedrift.stats.decisions import (Design, _se, adjust_pvalues, minimum_detectable_effect,
                                       power_for_drop, prob_safer, seeds_needed)
from safedrift.stats.stability import item_stability, rank_stability
from safedrift.stats.variance import variance_components
from safedrift.stats.estimates import wilson_rate


def _clustered(rng, n_items=60, per_item=10, a=1.0, b=1.0):
    p = rng.beta(a, b, n_items)
    y = (rng.random((n_items, per_item)) < p[:, None]).astype(float).ravel()
    return y, np.repeat(np.arange(n_items), per_item)


def test_cluster_robust_se_matches_statsmodels():
    rng = np.random.default_rng(0)
    y, items = _clustered(rng)
    ours = cluster_robust_mean(y, items)
    ref = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": items})
    assert ours.estimate == pytest.approx(ref.params[0])
    assert ours.se == pytest.approx(ref.bse[0], rel=1e-10)


def test_clustered_intervals_cover_and_naive_does_not():
    """Items differ in difficulty (p_i ~ Beta(1,1)), 10 answers each: the truth is E[p] = 0.5."""
    rng = np.random.default_rng(42)
    reps = 1000
    hits = {"cr": 0, "boot": 0, "naive": 0, "dew": 0}
    for r in range(reps):
        y, items = _clustered(rng)
        cr = cluster_robust_mean(y, items)
        bt = cluster_bootstrap_mean(y, items, n_resamples=1000, seed=r)
        nv = wilson_rate(int(y.sum()), y.size)
        hits["cr"] += cr.low <= 0.5 <= cr.high
        hits["boot"] += bt.low <= 0.5 <= bt.high
        hits["naive"] += nv.low <= 0.5 <= nv.high
        dw = design_effect_wilson(y, items)
        hits["dew"] += dw.low <= 0.5 <= dw.high
    assert 0.94 <= hits["cr"] / reps <= 0.96, hits
    assert 0.93 <= hits["boot"] / reps <= 0.96, hits
    assert 0.94 <= hits["dew"] / reps <= 0.97, hits
    assert hits["naive"] / reps < 0.75, hits  # treating 600 answers as independent


def test_two_way_bootstrap_is_wider_when_seeds_vary():
    rng = np.random.default_rng(5)
    n_items, n_seeds = 80, 5
    item_p = rng.beta(2, 2, n_items)
    seed_shift = rng.normal(0, 0.15, n_seeds)
    p = np.clip(item_p[:, None] + seed_shift[None, :], 0, 1)
    y = (rng.random((n_items, n_seeds)) < p).astype(float).ravel()
    items = np.repeat(np.arange(n_items), n_seeds)
    seeds = np.tile(np.arange(n_seeds), n_items)
    one = cluster_bootstrap_mean(y, items, seed=1)
    two = cluster_bootstrap_mean(y, items, seeds, seed=1)
    assert (two.high - two.low) > 1.3 * (one.high - one.low)


def test_design_effect_wilson_against_statsmodels():
    """One answer per item: statsmodels' Wilson interval. Several: Wilson at n_eff =
    p(1-p) / SE², SE statsmodels' cluster-robust one, times (z / t_{K-1})²."""
    from scipy import stats as sps
    from statsmodels.stats.proportion import proportion_confint

    rng = np.random.default_rng(11)
    y = (rng.random(50) < 0.3).astype(float)
    ours = design_effect_wilson(y, np.arange(50))
    assert (ours.low, ours.high) == pytest.approx(proportion_confint(y.sum(), 50, method="wilson"))
    y, items = _clustered(rng, 30, 6)
    ours = design_effect_wilson(y, items)
    se = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": items}).bse[0]
    p = y.mean()
    n_eff = p * (1 - p) / se ** 2 * (sps.norm.ppf(0.975) / sps.t.ppf(0.975, 29)) ** 2
    assert ours.n_eff == pytest.approx(n_eff)
    assert (ours.low, ours.high) == pytest.approx(proportion_confint(p * n_eff, n_eff,
                                                                     method="wilson"))
    assert ours.n_eff < y.size  # clustered: fewer effective answers than answers


def test_design_effect_wilson_covers_near_zero_where_the_bootstrap_collapses():
    """Known truth: 20 items, 6 answers each, item rates ~ Beta(0.02, 0.98) (mean 0.02, ICC 0.5),
    the regime of a harmless benchmark's over-refusal. Many runs see no refusal at all; the
    percentile bootstrap then reports [0, 0]."""
    from statsmodels.stats.proportion import proportion_confint

    rng = np.random.default_rng(8)
    reps, hits, boot_hits, zero = 300, 0, 0, None
    for r in range(reps):
        y, items = _clustered(rng, 20, 6, a=0.02, b=0.98)
        dw = design_effect_wilson(y, items)
        bt = cluster_bootstrap_mean(y, items, n_resamples=300, seed=r)
        hits += dw.low <= 0.02 <= dw.high
        boot_hits += bt.low <= 0.02 <= bt.high
        if y.sum() == 0:
            zero = (dw, bt)
    assert hits / reps >= 0.92 and boot_hits / reps < 0.8, (hits, boot_hits)
    dw, bt = zero  # no refusal seen: the item count bounds the rate, not the 120 answers
    assert bt.high == 0 and dw.low == 0 and dw.n_eff < 20
    assert dw.high > proportion_confint(0, 20, method="wilson")[1]


def test_variance_components_recover_simulated_shares():
    rng = np.random.default_rng(7)
    sizes = {"seed": 6, "format": 5, "sample": 4, "item": 150}
    true = {"seed": 0.05, "format": 0.03, "sample": 0.0, "item": 0.25, "residual": 0.5}
    grid = pd.MultiIndex.from_product([range(v) for v in sizes.values()],
                                      names=list(sizes)).to_frame(index=False)
    y = rng.normal(0, np.sqrt(true["residual"]), len(grid))
    for f, n in sizes.items():
        y += rng.normal(0, np.sqrt(true[f]), n)[grid[f].to_numpy()]
    grid["y"] = y
    vc = variance_components(grid, "y", list(sizes))
    got = vc.table.set_index("factor")["variance"]
    assert vc.balanced
    assert got["residual"] == pytest.approx(true["residual"], rel=0.03)
    assert got["item"] == pytest.approx(true["item"], rel=0.25)
    for f in ("seed", "format"):  # few levels: the estimate is noisy, but of the right size
        assert 0.3 * true[f] <= got[f] <= 2.5 * true[f], (f, got[f])
    assert got["sample"] < 0.01


def test_variance_mean_squares_match_statsmodels_anova():
    rng = np.random.default_rng(3)
    grid = pd.MultiIndex.from_product([range(3), range(4), range(10)],
                                      names=["seed", "format", "item"]).to_frame(index=False)
    grid["y"] = rng.normal(size=len(grid)) + grid["item"] * 0.1
    vc = variance_components(grid, "y", ["seed", "format", "item"])
    ref = sm.stats.anova_lm(ols("y ~ C(seed) + C(format) + C(item)", grid).fit())
    ms = vc.table.set_index("factor")["mean_square"]
    assert ms["seed"] == pytest.approx(ref.loc["C(seed)", "mean_sq"])
    assert ms["item"] == pytest.approx(ref.loc["C(item)", "mean_sq"])
    assert ms["residual"] == pytest.approx(ref.loc["Residual", "mean_sq"])


def test_single_level_factor_warns_not_crashes():
    df = pd.DataFrame({"seed": [0] * 6, "item": [0, 1, 2] * 2, "y": [1, 0, 1, 1, 0, 0]})
    vc = variance_components(df, "y", ["seed", "item"])
    assert vc.share("seed") == 0 and any("'seed' has one level" in w for w in vc.warnings)


def test_item_stability_by_hand():
    df = pd.DataFrame({"item_id": ["a"] * 4 + ["b"] * 4,
                       "refused": [1, 1, 1, 1, 1, 0, 1, 0]})
    st = item_stability(df)
    assert st.flip_rate == 0.5
    # a: unanimous (1.0); b: 2 of 4 → agreeing pairs (2·1 + 2·1) / (4·3) = 1/3
    assert st.stability_index == pytest.approx((1 + 1 / 3) / 2)


def test_rank_stability():
    df = pd.DataFrame({"model_id": list("abc") * 2, "format": ["x"] * 3 + ["y"] * 3,
                       "refused": [0.9, 0.5, 0.1, 0.8, 0.6, 0.2]})
    assert rank_stability(df) == pytest.approx(1.0)
    df.loc[3:, "refused"] = [0.2, 0.6, 0.8]
    assert rank_stability(df) == pytest.approx(-1.0)


def test_prob_safer():
    assert prob_safer([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert prob_safer([0.5, 0.1], [0.5, 0.2]) == pytest.approx((0.5 + 1 + 0 + 0) / 4)


def test_power_formula_matches_a_simulation_of_the_design():
    """Simulate verdict-level data with seed, item and residual effects; the SD of the paired
    estimate must match the formula the power analysis uses."""
    rng = np.random.default_rng(11)
    d = Design(var_seed=0.02, var_resid=0.2, n_items=50, n_samples=2)
    n_seeds, reps, delta = 3, 3000, -0.1
    est = []
    for _ in range(reps):
        item = rng.normal(0, 0.4, d.n_items)
        base = item[:, None] + rng.normal(0, np.sqrt(d.var_resid), (d.n_items, d.n_samples))
        seed = rng.normal(0, np.sqrt(d.var_seed), n_seeds)
        tuned = (delta + item[:, None, None] + seed[None, :, None]
                 + rng.normal(0, np.sqrt(d.var_resid), (d.n_items, n_seeds, d.n_samples)))
        est.append(tuned.mean() - base.mean())
    assert np.std(est) == pytest.approx(_se(d, n_seeds), rel=0.05)
    mde = minimum_detectable_effect(d, n_seeds)
    assert power_for_drop(mde, d, n_seeds) == pytest.approx(0.8, abs=1e-9)
    s = seeds_needed(0.15, d)
    assert power_for_drop(0.15, d, s) >= 0.8 > power_for_drop(0.15, d, s - 1) if s > 1 else True
    assert seeds_needed(0.001, d, max_seeds=50) is None


def test_adjust_pvalues_holm_by_hand():
    p = [0.01, 0.04, 0.03, np.nan]
    holm = adjust_pvalues(p, "holm")
    assert holm[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm[3])
    bh = adjust_pvalues(p[:3], "fdr_bh")
    assert bh == pytest.approx([0.03, 0.04, 0.04])


def test_no_variance_has_no_shares():
    """Every answer refused: there is nothing to divide, so shares are undefined (NaN, with a
    warning), not 0% for every factor."""
    df = pd.DataFrame({"sample": [0, 1] * 3, "item": [0, 0, 1, 1, 2, 2], "y": [1.0] * 6})
    vc = variance_components(df, "y", ["sample", "item"])
    assert vc.table["share"].isna().all()
    assert any("same outcome" in w for w in vc.warnings)
