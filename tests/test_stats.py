"""Estimators against reference implementations and simulations with known truth."""

import numpy as np
import pytest
from scipy import stats as sps

from safedrift.stats import agresti_min_interval, paired_effect, sign_flip_test, wilson_rate


@pytest.mark.parametrize("k,n", [(0, 20), (13, 20), (20, 20), (3, 7), (512, 1000)])
def test_wilson_matches_scipy(k, n):
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    r = wilson_rate(k, n)
    assert r.low == pytest.approx(ref.low, abs=1e-9)
    assert r.high == pytest.approx(ref.high, abs=1e-9)
    assert r.rate == k / n


def test_wilson_empty_is_nan_not_crash():
    r = wilson_rate(0, 0)
    assert np.isnan(r.rate) and r.n == 0


def test_mcnemar_exact_and_mid_p_match_the_binomial():
    rng = np.random.default_rng(1)
    base = rng.random(40) < 0.7
    tuned = np.where(rng.random(40) < 0.3, ~base, base)
    b = int(np.sum(base & ~tuned))
    c = int(np.sum(~base & tuned))
    exact = paired_effect(base.astype(float), tuned.astype(float), mid_p=False)
    assert exact.test == "exact McNemar"
    assert exact.p_value == pytest.approx(sps.binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)
    mid = paired_effect(base.astype(float), tuned.astype(float))
    k, n = min(b, c), b + c
    ref_mid = 2 * (sps.binom.cdf(k, n, 0.5) - 0.5 * sps.binom.pmf(k, n, 0.5))
    assert mid.test == "McNemar mid-p" and mid.p_value == pytest.approx(ref_mid, rel=1e-12)
    assert mid.p_value < exact.p_value
    assert mid.difference == pytest.approx(tuned.mean() - base.mean())


def test_sign_flip_exact_equals_brute_force():
    d = np.array([0.5, -0.2, 1.0, 0.3, 0.0, 0.7, -0.1])
    nz = d[d != 0]
    total = 0
    for mask in range(2 ** nz.size):
        signs = np.array([1 if (mask >> i) & 1 else -1 for i in range(nz.size)])
        total += abs((signs * nz).sum()) >= abs(nz.sum()) - 1e-12
    assert sign_flip_test(d, mid_p=False) == pytest.approx(total / 2 ** nz.size)
    greater = ties = 0
    for mask in range(2 ** nz.size):
        signs = np.array([1 if (mask >> i) & 1 else -1 for i in range(nz.size)])
        stat = abs((signs * nz).sum())
        greater += stat > abs(nz.sum()) + 1e-12
        ties += abs(stat - abs(nz.sum())) <= 1e-12
    assert sign_flip_test(d) == pytest.approx((greater + 0.5 * ties) / 2 ** nz.size)


def test_sign_flip_monte_carlo_close_to_exact():
    rng = np.random.default_rng(3)
    d = rng.normal(0.2, 1, 16)
    exact = sign_flip_test(d, exact_below=18, mid_p=False)
    mc = sign_flip_test(d, exact_below=0, n_resamples=40000, seed=5, mid_p=False)
    assert mc == pytest.approx(exact, abs=0.01)


def test_agresti_min_covers_truth_about_95_percent():
    """Paired binary data with known marginal rates: coverage of the 95% interval."""
    rng = np.random.default_rng(2024)
    n, reps = 60, 4000
    p_base, p_flip_down, p_flip_up = 0.6, 0.4, 0.05
    # truth: P(tuned)=P(base)(1-down) + (1-P(base)) up
    truth = p_base * (1 - p_flip_down) + (1 - p_base) * p_flip_up - p_base
    base = rng.random((reps, n)) < p_base
    u = rng.random((reps, n))
    tuned = np.where(base, u >= p_flip_down, u < p_flip_up)
    hits = 0
    for b, t in zip(base, tuned):
        lo, hi = agresti_min_interval(b, t)
        hits += lo <= truth <= hi
    coverage = hits / reps
    assert 0.93 <= coverage <= 0.97, coverage


def test_paired_tests_hold_their_size_under_the_null():
    """Tuned and base identically distributed: the mid-p tests reject 4–6% of the time, the
    exact ones at most 5% (conservative on binary data)."""
    rng = np.random.default_rng(7)
    reps, n = 3000, 40
    rej = {"mcnemar": 0, "mcnemar_exact": 0, "flip": 0, "flip_exact": 0}
    for _ in range(reps):
        p_item = rng.beta(2, 2, n)  # items differ in difficulty; the model does not matter
        base = (rng.random(n) < p_item).astype(float)
        tuned = (rng.random(n) < p_item).astype(float)
        rej["mcnemar"] += paired_effect(base, tuned).p_value < 0.05
        rej["mcnemar_exact"] += paired_effect(base, tuned, mid_p=False).p_value < 0.05
        base3 = (rng.random((3, n)) < p_item).mean(0)
        tuned3 = (rng.random((3, n)) < p_item).mean(0)
        s = int(rng.integers(1 << 30))
        rej["flip"] += sign_flip_test(tuned3 - base3, n_resamples=999, seed=s) < 0.05
        rej["flip_exact"] += sign_flip_test(tuned3 - base3, n_resamples=999, seed=s,
                                            mid_p=False) < 0.05
    rate = {k: v / reps for k, v in rej.items()}
    assert 0.04 <= rate["mcnemar"] <= 0.06, rate
    assert 0.04 <= rate["flip"] <= 0.06, rate
    assert rate["mcnemar_exact"] <= 0.05 and rate["flip_exact"] <= 0.05, rate


def test_sign_flip_size_is_five_percent_on_continuous_differences():
    rng = np.random.default_rng(8)
    reps = 2000
    p = [sign_flip_test(rng.standard_t(4, 30), n_resamples=999, seed=i) for i in range(reps)]
    assert 0.04 <= np.mean(np.array(p) < 0.05) <= 0.06


def test_paired_effect_detects_a_real_drop():
    rng = np.random.default_rng(11)
    base = (rng.random(50) < 0.8).astype(float)
    tuned = np.where(rng.random(50) < 0.7, 0.0, base)
    e = paired_effect(base, tuned)
    assert e.difference < -0.3 and e.p_value < 0.001 and e.high < 0
    assert e.cohens_h < 0
