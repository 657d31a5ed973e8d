"""Comparing several models' results side by side: confidence intervals for each, and paired
tests of each model against one baseline, Holm-corrected across the models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bixse.errors import InputError
from bixse.evaluation.measures import EvaluationResult
from bixse.evaluation.significance import (
    DEFAULT_RESAMPLES,
    bootstrap_ci,
    holm_correction,
    paired_randomization_test,
    paired_t_test,
)


@dataclass(frozen=True)
class PairedTest:
    """``model`` vs ``baseline`` on one measure: the mean difference (model - baseline) with its
    bootstrap interval, and both tests' p-values, raw and Holm-adjusted across the models."""

    model: str
    baseline: str
    measure: str
    delta: float
    delta_ci: tuple[float, float]
    t_test_p: float
    randomization_p: float
    t_test_p_holm: float
    randomization_p_holm: float

    def significant(self, alpha: float = 0.05) -> bool:
        """Both Holm-adjusted tests reject at ``alpha``."""
        return self.t_test_p_holm < alpha and self.randomization_p_holm < alpha


@dataclass(frozen=True)
class Comparison:
    """Results of several models on the same queries, with intervals and tests vs ``baseline``."""

    results: tuple[EvaluationResult, ...]
    baseline: str
    intervals: dict[str, dict[str, tuple[float, float]]]
    tests: tuple[PairedTest, ...]
    confidence: float = 0.95
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    alpha: float = 0.05

    @property
    def measures(self) -> tuple[str, ...]:
        return self.results[0].measures

    @property
    def names(self) -> list[str]:
        return [result.name for result in self.results]

    def result(self, name: str) -> EvaluationResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def test(self, model: str, measure: str) -> PairedTest | None:
        """The test of ``model`` vs the baseline on ``measure`` (None for the baseline itself)."""
        return next((t for t in self.tests if t.model == model and t.measure == measure), None)

    def conventions(self) -> str:
        tests = ("paired t-test and paired randomisation test (sign flips, "
                 f"{self.n_resamples:,} resamples) vs '{self.baseline}', Holm-corrected across "
                 f"{max(len(self.results) - 1, 0)} model(s) per measure and test")
        return (f"{self.results[0].conventions()}. Intervals: {self.confidence:.0%} percentile bootstrap over "
                f"queries ({self.n_resamples:,} resamples, seed {self.seed}). Tests: {tests}.")

    def to_dict(self, per_query: bool = True) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "measures": list(self.measures),
            "relevance_threshold": self.results[0].relevance_threshold,
            "ndcg_gain": self.results[0].ndcg_gain,
            "confidence": self.confidence, "n_resamples": self.n_resamples, "seed": self.seed, "alpha": self.alpha,
            "conventions": self.conventions(),
            "models": [
                {
                    "name": result.name,
                    "aggregate": result.aggregate,
                    "ci": {m: list(self.intervals[result.name][m]) for m in self.measures},
                    **({"per_query": result.per_query} if per_query else {}),
                }
                for result in self.results
            ],
            "tests": [
                {**test.__dict__, "delta_ci": list(test.delta_ci), "significant": test.significant(self.alpha)}
                for test in self.tests
            ],
            "num_queries": self.results[0].num_queries,
        }


def _check_comparable(results: Sequence[EvaluationResult]) -> None:
    first = results[0]
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise InputError(f"model names must be distinct to compare them, got {names}", field="models")
    for other in results[1:]:
        if other.measures != first.measures:
            raise InputError(f"'{other.name}' was scored on {list(other.measures)}, '{first.name}' on "
                             f"{list(first.measures)}", field="measures")
        if other.relevance_threshold != first.relevance_threshold or other.ndcg_gain != first.ndcg_gain:
            raise InputError(f"'{other.name}' and '{first.name}' were scored with different conventions",
                             field="relevance_threshold")
        if set(other.query_ids) != set(first.query_ids):
            raise InputError(f"'{other.name}' and '{first.name}' were scored on different queries "
                             f"({other.num_queries} vs {first.num_queries})", field="qrels")


def check_baseline(baseline: str | None, names: Sequence[str]) -> str:
    """The baseline's name (default: the first model), or an error listing the models."""
    if baseline is None:
        return names[0]
    if baseline not in names:
        raise InputError(f"baseline '{baseline}' is not among the models ({', '.join(names)})", field="baseline")
    return baseline


def check_resampling(confidence: float, n_resamples: int) -> None:
    """Reject a confidence outside (0, 1) or fewer than one resample; cheap, so pipelines call it
    before any model retrieves."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}", field="confidence")
    if n_resamples < 1:
        raise InputError(f"n_resamples must be positive, got {n_resamples}", field="n_resamples")


def compare(
    results: Sequence[EvaluationResult] | Mapping[str, EvaluationResult],
    baseline: str | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> Comparison:
    """Intervals for every model and tests of every other model vs ``baseline`` (default: the
    first). All results must share measures, conventions and queries.

    >>> from bixse.evaluation import evaluate_run
    >>> qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    >>> good = evaluate_run({q: {f"d{q[1]}": 1.0} for q in qrels}, qrels, name="good")
    >>> bad = evaluate_run({q: {"x": 1.0} for q in qrels}, qrels, name="bad")
    >>> compare([bad, good]).test("good", "nDCG@10").delta
    1.0
    """
    ordered = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not ordered:
        raise InputError("nothing to compare", field="models")
    check_resampling(confidence, n_resamples)
    _check_comparable(ordered)
    names = [r.name for r in ordered]
    baseline = check_baseline(baseline, names)
    base = ordered[names.index(baseline)]
    query_ids = base.query_ids
    intervals = {
        r.name: {m: bootstrap_ci([r.per_query[m][q] for q in query_ids], confidence, n_resamples, seed)
                 for m in r.measures}
        for r in ordered
    }
    others = [r for r in ordered if r.name != baseline]
    tests: list[PairedTest] = []
    if others and len(query_ids) >= 2:
        for measure in base.measures:
            base_scores = np.array([base.per_query[measure][q] for q in query_ids])
            rows = []
            for other in others:
                scores = np.array([other.per_query[measure][q] for q in query_ids])
                rows.append((other.name, scores - base_scores, paired_t_test(scores, base_scores),
                             paired_randomization_test(scores, base_scores, n_resamples, seed)))
            t_holm = holm_correction([row[2] for row in rows])
            rand_holm = holm_correction([row[3] for row in rows])
            for (name, differences, t_p, rand_p), t_adj, rand_adj in zip(rows, t_holm, rand_holm, strict=True):
                tests.append(PairedTest(
                    model=name, baseline=baseline, measure=measure, delta=float(differences.mean()),
                    delta_ci=bootstrap_ci(differences, confidence, n_resamples, seed),
                    t_test_p=t_p, randomization_p=rand_p, t_test_p_holm=t_adj, randomization_p_holm=rand_adj))
    return Comparison(results=tuple(ordered), baseline=baseline, intervals=intervals, tests=tuple(tests),
                      confidence=confidence, n_resamples=n_resamples, seed=seed, alpha=alpha)
