"""Paired significance tests, confidence intervals and multiple-comparison correction over
per-query scores.

Both tests are two-sided and pair the two systems' scores on the same queries:

- ``paired_t_test``: Student's paired t-test (scipy ``ttest_rel``).
- ``paired_randomization_test``: Fisher's sign-flip randomisation test (Smucker, Allan &
  Carterette, "A comparison of statistical significance tests for information retrieval
  evaluation", CIKM 2007): under H0 each per-query difference is equally likely to have
  either sign; p = (1 + #{resamples with |mean| >= |observed mean|}) / (1 + resamples), the
  add-one form of Phipson & Smyth (2010) that never reports p = 0.
- ``bootstrap_ci``: percentile bootstrap interval of the mean over queries.
- ``holm_correction``: Holm's step-down adjustment of a family of p-values (Holm 1979),
  controlling the family-wise error rate; used across the models compared with one baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bixse.errors import InputError

DEFAULT_RESAMPLES = 10_000
_CHUNK = 1_000


def _paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise InputError(f"paired tests need two equal-length score lists, got {first.shape} and {second.shape}",
                         field="scores")
    if first.size < 2:
        raise InputError("paired tests need at least 2 queries", field="scores")
    return first - second


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test of mean(a - b) = 0; 1.0 when a == b everywhere."""
    from scipy import stats

    differences = _paired(a, b)
    if not np.any(differences):
        return 1.0
    if np.all(differences == differences[0]):
        return 0.0  # a constant non-zero difference: no variance, the effect is certain
    return float(stats.ttest_rel(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).pvalue)


def paired_randomization_test(a: Sequence[float], b: Sequence[float], n_resamples: int = DEFAULT_RESAMPLES,
                              seed: int = 0) -> float:
    """Two-sided p-value of the sign-flip randomisation test (see the module docstring)."""
    differences = _paired(a, b)
    if n_resamples < 1:
        raise InputError(f"n_resamples must be positive, got {n_resamples}", field="n_resamples")
    observed = abs(differences.mean())
    # Rounding in the mean of flipped signs must not turn a tie into a "less extreme" draw.
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))
    rng = np.random.default_rng(seed)
    at_least_as_extreme = 0
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        signs = rng.integers(0, 2, size=(size, differences.size), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ differences) / differences.size
        at_least_as_extreme += int(np.count_nonzero(means >= observed - tolerance))
    return (at_least_as_extreme + 1) / (n_resamples + 1)


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (queries resampled with replacement)."""
    sample = np.asarray(values, dtype=np.float64)
    if sample.ndim != 1 or sample.size == 0:
        raise InputError("a confidence interval needs at least one value", field="scores")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}", field="confidence")
    if n_resamples < 1:
        raise InputError(f"n_resamples must be positive, got {n_resamples}", field="n_resamples")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        means[start:start + size] = sample[rng.integers(0, sample.size, size=(size, sample.size))].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def holm_correction(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order.

    Sorted ascending, the i-th smallest (1-based) becomes max over j <= i of
    min(1, (m - j + 1) * p_(j)); rejecting adjusted p < alpha controls the family-wise error.
    """
    values = np.asarray(p_values, dtype=np.float64)
    m = values.size
    order = np.argsort(values, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * values[order])) if m else values
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()
