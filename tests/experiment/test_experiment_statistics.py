"""Intervals over seeds and queries, pooled tests: against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bixse.experiment.statistics import (
    bootstrap_p_value,
    macro_mean,
    macro_randomization_test,
    seed_spread,
    two_level_bootstrap,
)


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


def test_the_randomization_test_weighs_collections_like_the_macro_mean():
    """Exact sign-flip p over all 2^5 sign patterns, the statistic the macro mean of the differences."""
    import itertools

    a = np.array([[0.1, 0.3, -0.2], [0.3, 0.1, 0.0]])   # per-query means 0.2, 0.2, -0.1; weight 1/6 each
    b = np.array([[0.5, 0.4], [0.3, 0.2]])              # 0.4, 0.3; weight 1/4 each
    weighted = np.array([0.2, 0.2, -0.1]) / 6
    weighted = np.concatenate([weighted, np.array([0.4, 0.3]) / 4])
    observed = abs(weighted.sum())
    patterns = list(itertools.product([-1, 1], repeat=5))
    exact = sum(abs(np.dot(signs, weighted)) >= observed - 1e-12 for signs in patterns) / len(patterns)
    assert macro_randomization_test([a, b], n_resamples=20_000) == pytest.approx(exact, abs=0.01)
    assert observed == pytest.approx(macro_mean([a, b]))


def test_bootstrap_p_value_reads_the_interval():
    rng = np.random.default_rng(2)
    clearly_positive = [rng.normal(0.05, 0.1, size=(3, 400))]
    centred = [rng.normal(0.0, 0.1, size=(3, 400))]
    assert bootstrap_p_value(clearly_positive) < 0.01
    assert bootstrap_p_value(centred) > 0.05
    assert bootstrap_p_value([np.zeros((2, 10))]) == 1.0


def test_seeds_that_disagree_make_a_difference_uncertain():
    """The same per-query mean difference, but one seed of three against it: not significant by the
    two-level bootstrap, although a test over queries alone would call it certain."""
    queries = np.full(500, 0.02)
    disagreeing = np.stack([queries + 0.06, queries + 0.06, queries - 0.06])  # seed means .08, .08, -.04
    assert bootstrap_p_value([disagreeing]) > 0.05
