"""Uncertainty over queries and seeds, per collection and pooled over collections.

An arm (a cell without its seed) has, on each collection t, a score matrix X_t of shape
(seeds, queries of t). Its pooled score is the macro mean over collections, (1/T) sum_t mean(X_t),
so a large collection does not drown a small one. A comparison of two arms on the same seeds
works on the difference matrices D_t = X_t(arm) - X_t(baseline).

- ``two_level_bootstrap``: percentile interval of the macro mean, each resample drawing the seeds
  with replacement (one draw shared by every collection: one seed is one trained model, scored
  everywhere) and each collection's queries with replacement within that collection.
- ``pooled_tests``: the paired t-test and the sign-flip randomisation test
  (``bixse.evaluation.significance``) over every test query of every collection, each query's
  difference averaged over the seeds first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bixse.evaluation.significance import paired_randomization_test, paired_t_test

Matrices = Sequence[np.ndarray]  # one (seeds, queries) matrix per collection, the same seeds in each


def macro_mean(matrices: Matrices) -> float:
    return float(np.mean([matrix.mean() for matrix in matrices]))


def two_level_bootstrap(matrices: Matrices, confidence: float = 0.95, n_resamples: int = 2_000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``macro_mean`` under resampling of seeds and of queries within collections."""
    rng = np.random.default_rng(seed)
    seeds = matrices[0].shape[0]
    statistics = np.zeros(n_resamples)
    chunk = 500
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        drawn_seeds = rng.integers(0, seeds, size=(size, seeds))
        total = np.zeros(size)
        for matrix in matrices:
            by_seed = matrix[drawn_seeds].mean(axis=1)               # (size, queries): seeds resampled
            drawn_queries = rng.integers(0, matrix.shape[1], size=(size, matrix.shape[1]))
            total += np.take_along_axis(by_seed, drawn_queries, axis=1).mean(axis=1)
        statistics[start:start + size] = total / len(matrices)
    alpha = 1 - confidence
    low, high = np.quantile(statistics, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def pooled_tests(differences: Matrices, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """(paired t-test p, randomisation test p) over all queries, differences averaged over seeds."""
    per_query = np.concatenate([matrix.mean(axis=0) for matrix in differences])
    zeros = np.zeros_like(per_query)
    if per_query.size < 2:
        return 1.0, 1.0
    return paired_t_test(per_query, zeros), paired_randomization_test(per_query, zeros, n_resamples, seed)


def seed_spread(matrices: Matrices) -> float:
    """Standard deviation over seeds of the macro mean (0 for one seed)."""
    per_seed = np.mean([matrix.mean(axis=1) for matrix in matrices], axis=0)
    return float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0
