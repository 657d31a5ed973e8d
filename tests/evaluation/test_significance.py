"""Significance tests, bootstrap intervals and Holm on constructed data."""

import itertools

import numpy as np
import pytest
from scipy import stats

from bixse.errors import InputError
from bixse.evaluation import bootstrap_ci, holm_correction, paired_randomization_test, paired_t_test


def test_identical_runs_give_p_equal_one():
    scores = np.random.default_rng(0).uniform(size=50)
    assert paired_t_test(scores, scores) == 1.0
    assert paired_randomization_test(scores, scores, n_resamples=2000) == 1.0


def test_a_clearly_better_run_gets_a_small_p():
    rng = np.random.default_rng(1)
    baseline = rng.uniform(0.2, 0.6, size=40)
    better = baseline + 0.1 + rng.normal(0, 0.02, size=40)
    assert paired_t_test(better, baseline) < 1e-10
    assert paired_randomization_test(better, baseline, n_resamples=5000) == pytest.approx(1 / 5001)


def test_t_test_matches_its_formula():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(size=30), rng.uniform(size=30)
    d = a - b
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    assert paired_t_test(a, b) == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1), rel=1e-9)


def test_randomization_test_approaches_the_exact_enumeration():
    a = np.array([0.9, 0.4, 0.7, 0.3, 0.8, 0.55])
    b = np.array([0.5, 0.5, 0.6, 0.1, 0.4, 0.5])
    d = a - b
    flips = [abs(np.mean(np.array(signs) * d)) for signs in itertools.product([-1, 1], repeat=d.size)]
    exact = np.mean(np.array(flips) >= abs(d.mean()) - 1e-12)  # 64 equally likely sign patterns
    assert paired_randomization_test(a, b, n_resamples=20_000) == pytest.approx(exact, abs=0.01)
    # and it is two-sided: swapping the runs changes nothing
    assert paired_randomization_test(b, a, n_resamples=20_000) == paired_randomization_test(a, b, n_resamples=20_000)


def test_bootstrap_ci_matches_the_normal_approximation_and_degenerates_for_constants():
    values = np.random.default_rng(3).normal(0.5, 0.2, size=400)
    low, high = bootstrap_ci(values, 0.95, n_resamples=5000)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)
    assert bootstrap_ci([0.3] * 10) == pytest.approx((0.3, 0.3))
    narrower = bootstrap_ci(values, 0.5, n_resamples=5000)
    assert narrower[0] > low and narrower[1] < high


def test_holm_on_known_p_values():
    assert holm_correction([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_correction([0.001, 0.2, 0.04, 0.01]) == pytest.approx([0.004, 0.2, 0.08, 0.03])
    assert holm_correction([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm_correction([0.02]) == pytest.approx([0.02])
    assert holm_correction([]) == []


def test_bad_inputs():
    with pytest.raises(InputError, match="equal-length"):
        paired_t_test([0.1, 0.2], [0.1])
    with pytest.raises(InputError, match="at least 2"):
        paired_randomization_test([0.1], [0.2])
    with pytest.raises(InputError, match="confidence"):
        bootstrap_ci([0.1, 0.2], confidence=1.5)
    for resamples in (0, -5):
        with pytest.raises(InputError, match="n_resamples must be positive"):
            bootstrap_ci([0.1, 0.2], n_resamples=resamples)


def test_randomization_test_matches_scipys_exact_permutation_test():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(size=10), rng.uniform(size=10)
    exact = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                   permutation_type="samples", n_resamples=np.inf, alternative="two-sided").pvalue
    assert paired_randomization_test(a, b, n_resamples=20_000, seed=1) == pytest.approx(exact, abs=0.01)


def test_bootstrap_ci_matches_scipys_percentile_bootstrap():
    values = np.random.default_rng(5).beta(2, 5, size=120)  # skewed, like per-query nDCG
    ours = bootstrap_ci(values, 0.95, n_resamples=20_000)
    theirs = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=20_000, method="percentile",
                             random_state=np.random.default_rng(6)).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.002)
