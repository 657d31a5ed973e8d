"""Uncertainty over queries and seeds, per collection and pooled over collections.

An arm (a cell without its seed) has, on each collection t, a score matrix X_t of shape
(seeds, queries of t). Its pooled score is the macro mean over collections, (1/T) sum_t mean(X_t),
so a large collection does not drown a small one. A comparison of two arms on the same seeds
works on the difference matrices D_t = X_t(arm) - X_t(baseline).

- ``two_level_bootstrap``: percentile interval of the macro mean, each resample drawing the seeds
  with replacement (one draw shared by every collection: one seed is one trained model, scored
  everywhere) and each collection's queries with replacement within that collection.
- ``bootstrap_p_value``: the same resamples read as a test of "macro mean difference = 0":
  twice the share of resamples on the far side of 0 (add-one), so it carries the seeds' spread.
- ``bootstrap_p_at_least``: the same resamples as a one-sided test of "difference >= threshold"
  (does the data exclude a gain of that size?).
- ``macro_randomization_test``: Fisher's sign-flip test of the same macro mean, each query's
  difference (averaged over seeds) weighted 1 / (T * n_t), so every collection counts alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Matrices = Sequence[np.ndarray]  # one (seeds, queries) matrix per collection, the same seeds in each


def macro_mean(matrices: Matrices) -> float:
    return float(np.mean([matrix.mean() for matrix in matrices]))


def _bootstrap_statistics(matrices: Matrices, n_resamples: int, seed: int) -> np.ndarray:
    """``macro_mean`` of each resample: seeds drawn once for all collections, queries within each."""
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
    return statistics


def two_level_bootstrap(matrices: Matrices, confidence: float = 0.95, n_resamples: int = 2_000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``macro_mean`` under resampling of seeds and of queries within collections."""
    statistics = _bootstrap_statistics(matrices, n_resamples, seed)
    alpha = 1 - confidence
    low, high = np.quantile(statistics, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_p_value(differences: Matrices, n_resamples: int = 2_000, seed: int = 0) -> float:
    """Two-sided bootstrap p-value of macro mean difference = 0 (the resamples of ``two_level_bootstrap``)."""
    statistics = _bootstrap_statistics(differences, n_resamples, seed)
    if not np.any(statistics):
        return 1.0
    far_side = min(np.count_nonzero(statistics <= 0), np.count_nonzero(statistics >= 0))
    return min(1.0, 2 * (far_side + 1) / (n_resamples + 1))


def bootstrap_p_at_least(differences: Matrices, threshold: float, n_resamples: int = 2_000, seed: int = 0) -> float:
    """One-sided bootstrap p-value of "macro mean difference >= threshold": the share of resamples at
    or above it (add-one). Small when the data put the difference below the threshold; it inverts the
    one-sided percentile interval of ``two_level_bootstrap``'s resamples."""
    statistics = _bootstrap_statistics(differences, n_resamples, seed)
    return (np.count_nonzero(statistics >= threshold) + 1) / (n_resamples + 1)


def macro_randomization_test(differences: Matrices, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Sign-flip p-value of the macro mean of per-query differences averaged over seeds."""
    per_query = np.concatenate([matrix.mean(axis=0) for matrix in differences])
    weights = np.concatenate([np.full(matrix.shape[1], 1 / (len(differences) * matrix.shape[1]))
                              for matrix in differences])
    weighted = per_query * weights
    if not np.any(weighted):
        return 1.0
    observed = abs(weighted.sum())
    tolerance = 1e-12 * max(1.0, float(np.abs(weighted).max()))
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, n_resamples, 1_000):
        size = min(1_000, n_resamples - start)
        signs = rng.integers(0, 2, size=(size, weighted.size), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ weighted) >= observed - tolerance))
    return (extreme + 1) / (n_resamples + 1)


def seed_spread(matrices: Matrices) -> float:
    """Standard deviation over seeds of the macro mean (0 for one seed)."""
    per_seed = np.mean([matrix.mean(axis=1) for matrix in matrices], axis=0)
    return float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0
