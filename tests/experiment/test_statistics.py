"""Intervals over seeds and queries, pooled tests: against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bixse.experiment.statistics import macro_mean, pooled_tests, seed_spread, two_level_bootstrap


def test_macro_mean_weighs_collections_equally():
    small = np.array([[1.0, 1.0]])          # one seed, two queries
    large = np.array([[0.0] * 8])           # one seed, eight queries
    assert macro_mean([small, large]) == 0.5  # the micro mean would be 0.2


def test_seed_spread_is_the_sd_of_the_per_seed_macro_means():
    a = np.array([[0.2, 0.4], [0.4, 0.6]])  # seed means 0.3, 0.5
    b = np.array([[0.1], [0.3]])            # 0.1, 0.3
    assert seed_spread([a, b]) == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert seed_spread([a[:1], b[:1]]) == 0.0


def test_bootstrap_of_a_constant_is_that_constant():
    assert two_level_bootstrap([np.full((3, 5), 0.25), np.full((3, 2), 0.75)]) == pytest.approx((0.5, 0.5))


def test_bootstrap_interval_matches_the_normal_approximation_for_one_seed():
    rng = np.random.default_rng(0)
    scores = rng.normal(0.4, 0.2, size=(1, 2000))
    low, high = two_level_bootstrap([scores], n_resamples=4000)
    half = 1.96 * scores.std(ddof=1) / np.sqrt(scores.size)
    assert (low, high) == pytest.approx((scores.mean() - half, scores.mean() + half), abs=0.002)


def test_seed_resampling_widens_the_interval_when_seeds_disagree():
    rng = np.random.default_rng(1)
    queries = rng.normal(0.4, 0.1, size=300)
    agreeing = np.stack([queries, queries, queries])
    disagreeing = np.stack([queries - 0.05, queries, queries + 0.05])
    narrow = np.diff(two_level_bootstrap([agreeing]))[0]
    wide = np.diff(two_level_bootstrap([disagreeing]))[0]
    assert wide > 2 * narrow


def test_pooled_tests_average_over_seeds_then_pool_every_query():
    a = np.array([[0.1, 0.3, -0.2], [0.3, 0.1, 0.0]])   # per-query means 0.2, 0.2, -0.1
    b = np.array([[0.5, 0.4], [0.3, 0.2]])              # 0.4, 0.3
    t_p, rand_p = pooled_tests([a, b], n_resamples=2000)
    pooled = np.array([0.2, 0.2, -0.1, 0.4, 0.3])
    assert t_p == pytest.approx(stats.ttest_1samp(pooled, 0.0).pvalue)
    assert 0 < rand_p <= 1
