"""Scoring a run against graded qrels with ir_measures (trec_eval's definitions via pytrec_eval).

Conventions, stated because numbers are compared across papers:

- **nDCG@k** uses the graded qrels with trec_eval's *linear* gain (gain = grade; DCG discount
  1/log2(rank+1)), as ``trec_eval -m ndcg_cut`` and BEIR report it. ``ndcg_gain="exponential"``
  gives Burges et al.'s 2^grade - 1 variant instead.
- **Binary measures** (MRR@k, R@k, MAP, P@k) count a document relevant when its grade is
  ``>= relevance_threshold`` (default 1: any positive grade; on Cranfield, Cleverdon grades 1-4).
- **Ties** in a run's scores are broken as trec_eval breaks them (doc id descending), for
  every measure, MRR@k included.
- **Queries**: the ones in the qrels with at least one relevant document (grade >= threshold);
  a query missing from the run scores 0 (and a warning counts them); run queries absent from the
  qrels are ignored. A run sharing no query id with the qrels is an error, not a 0.000: its ids
  follow another convention (``q1`` vs ``1``). MAP is computed over the retrieved list (so
  MAP@top_k of the run).

Measure names: ``nDCG@k``, ``MRR@k``, ``R@k`` (or ``Recall@k``), ``P@k``, ``MAP``, or any
ir_measures name (``nDCG(dcg=exp-log2)@10``, ``Judged@10``...); the threshold is applied to
every measure that takes ``rel`` and was not given one.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from bixse.collections import Qrels, Run
from bixse.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "MRR@10", "R@100", "MAP")
DEFAULT_RELEVANCE_THRESHOLD = 1
NdcgGain = Literal["linear", "exponential"]

_ALIASES = [
    (re.compile(r"^MRR(@\d+)?$", re.I), "RR"),
    (re.compile(r"^(?:R|Recall)(@\d+)$", re.I), "R"),
    (re.compile(r"^MAP(@\d+)?$", re.I), "AP"),
    (re.compile(r"^P(@\d+)$"), "P"),
]


def to_ir_measure(name: str, relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
                  ndcg_gain: NdcgGain = "linear", grades: Sequence[int] = ()) -> Any:
    """The ir_measures measure a display name stands for (see the module docstring)."""
    import ir_measures

    text = name.strip()
    for pattern, measure_name in _ALIASES:
        match = pattern.match(text)
        if match:
            text = measure_name + (match.group(1) or "")
            break
    try:
        measure = ir_measures.parse_measure(text)
    except Exception:  # ir_measures raises assorted types for a malformed name
        raise InputError(f"unknown measure '{name}' (e.g. {', '.join(DEFAULT_MEASURES)}, or an ir_measures name)",
                         field="measure") from None
    params = dict(measure.params)
    if "rel" in measure.SUPPORTED_PARAMS and "rel" not in params:
        params["rel"] = relevance_threshold
    if measure.NAME == "nDCG" and ndcg_gain == "exponential" and not {"gains", "dcg"} & set(params):
        params["gains"] = {grade: 2 ** grade - 1 if grade > 0 else 0 for grade in grades}
    elif ndcg_gain not in ("linear", "exponential"):
        raise InputError(f"unknown nDCG gain '{ndcg_gain}' (expected linear or exponential)", field="ndcg_gain")
    return measure(**params)


def check_measures(measures: Sequence[str], relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
                   ndcg_gain: NdcgGain = "linear") -> None:
    """Reject an empty or repeated measure list, an unknown measure or nDCG gain; needs no run,
    so a pipeline calls it before retrieving anything."""
    if not measures:
        raise InputError("no measures given", field="measures")
    if len(set(measures)) != len(measures):
        raise InputError(f"a measure is listed twice: {list(measures)}", field="measures")
    for measure in measures:
        to_ir_measure(measure, relevance_threshold, ndcg_gain)


def _first_ids(ids: Mapping[str, Any] | Sequence[str]) -> str:
    return ", ".join(list(ids)[:3]) or "none, it is empty"


def _check_coverage(run: Run, evaluated: Sequence[str], name: str, path: str | Path | None) -> None:
    """Error when the run has none of the evaluated queries, warning when it misses some."""
    covered = sum(1 for q in evaluated if q in run)
    if covered == len(evaluated):
        return
    if covered == 0:
        who = "the run" if path is not None else f"run '{name}'"
        raise InputError(f"{who} has no query id in common with the {len(evaluated)} queries of the qrels "
                         f"(run ids e.g. {_first_ids(run)}; qrels ids e.g. {_first_ids(evaluated)})",
                         path=path, field="run")
    logger.warning("%s: run covers %d of %d queries of the qrels; the %d missing score 0",
                   path if path is not None else name, covered, len(evaluated), len(evaluated) - covered)


@dataclass(frozen=True)
class EvaluationResult:
    """One run's scores: ``aggregate[measure]`` (mean over queries) and
    ``per_query[measure][query_id]``, measures keyed by their display names."""

    name: str
    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    measures: tuple[str, ...] = DEFAULT_MEASURES
    relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD
    ndcg_gain: NdcgGain = "linear"
    skipped_queries: tuple[str, ...] = field(default=())

    @property
    def query_ids(self) -> tuple[str, ...]:
        first = next(iter(self.per_query.values()), {})
        return tuple(first)

    @property
    def num_queries(self) -> int:
        return len(self.query_ids)

    def conventions(self) -> str:
        """One line on how the numbers were computed, for every report."""
        gain = ("linear gain (trec_eval)" if self.ndcg_gain == "linear" else "exponential gain (2^g - 1)")
        return (f"nDCG on graded qrels, {gain}; binary measures count grade >= {self.relevance_threshold} "
                f"as relevant; {self.num_queries} queries with a relevant document"
                + (f" ({len(self.skipped_queries)} without one skipped)" if self.skipped_queries else "")
                + "; measures by ir_measures")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "measures": list(self.measures), "aggregate": self.aggregate,
            "per_query": self.per_query, "relevance_threshold": self.relevance_threshold,
            "ndcg_gain": self.ndcg_gain, "num_queries": self.num_queries,
            "skipped_queries": list(self.skipped_queries), "conventions": self.conventions(),
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> EvaluationResult:
        return cls(name=record["name"], aggregate=dict(record["aggregate"]),
                   per_query={m: dict(v) for m, v in record["per_query"].items()},
                   measures=tuple(record["measures"]), relevance_threshold=int(record["relevance_threshold"]),
                   ndcg_gain=record.get("ndcg_gain", "linear"), skipped_queries=tuple(record.get("skipped_queries", ())))


def _by_run_depth(measure_objects: Mapping[str, Any]) -> dict[int | None, dict[str, Any]]:
    """Group measures by the run depth they are computed on (None: the whole run).

    trec_eval's ``recip_rank`` has no cutoff, so ir_measures would send RR@k to its MS MARCO
    provider, which breaks score ties by doc id *ascending* (trec_eval: descending) and runs in
    Python. RR@k is instead trec_eval's ``recip_rank`` on the run cut at rank k: the same
    value, with the tie order every other measure here uses.
    """
    import ir_measures

    groups: dict[int | None, dict[str, Any]] = {}
    for display, measure in measure_objects.items():
        depth = None
        if measure.NAME == "RR" and "cutoff" in measure.params:
            params = {key: value for key, value in measure.params.items() if key != "cutoff"}
            depth, measure = int(measure.params["cutoff"]), ir_measures.measures.RR(**params)
        groups.setdefault(depth, {})[display] = measure
    return groups


def _trec_eval_top_k(run: Run, k: int) -> Run:
    """Each query's first ``k`` documents in trec_eval's order: score descending, ties by doc id
    descending."""
    return {q: dict(sorted(docs.items(), key=itemgetter(1, 0), reverse=True)[:k])
            for q, docs in run.items()}


def evaluate_run(
    run: Run,
    qrels: Qrels,
    measures: Sequence[str] = DEFAULT_MEASURES,
    *,
    relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
    ndcg_gain: NdcgGain = "linear",
    name: str = "run",
    path: str | Path | None = None,
) -> EvaluationResult:
    """Score ``run`` on ``qrels``; see the module docstring for every convention.

    ``path``: the file the run was read from, named in the error (no query in common with the
    qrels) and the warning (some queries missing).

    >>> qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    >>> run = {"q1": {"d2": 0.9, "d1": 0.8}, "q2": {"d3": 0.5}}
    >>> evaluate_run(run, qrels).aggregate["MRR@10"]
    0.75
    """
    import ir_measures

    check_measures(measures, relevance_threshold, ndcg_gain)
    evaluated = [q for q, docs in qrels.items() if any(g >= relevance_threshold for g in docs.values())]
    if not evaluated:
        raise InputError(f"no query in the qrels has a document with grade >= {relevance_threshold}",
                         field="relevance_threshold")
    _check_coverage(run, evaluated, name, path)
    evaluated_set = set(evaluated)
    skipped = tuple(q for q in qrels if q not in evaluated_set)
    grades = sorted({g for q in evaluated for g in qrels[q].values()})
    measure_objects = {m: to_ir_measure(m, relevance_threshold, ndcg_gain, grades) for m in measures}
    evaluated_qrels = {q: qrels[q] for q in evaluated}
    evaluated_run = {q: run[q] for q in evaluated if q in run and run[q]}
    per_query: dict[str, dict[str, float]] = {m: dict.fromkeys(evaluated, 0.0) for m in measures}
    for depth, group in _by_run_depth(measure_objects).items():
        if not evaluated_run:
            break
        scored_run = evaluated_run if depth is None else _trec_eval_top_k(evaluated_run, depth)
        # Providers yield the measure objects they were given; matching by identity avoids
        # hashing a measure (its repr) once per query and measure.
        by_identity = {id(measure): display for display, measure in group.items()}
        by_value = {measure: display for display, measure in group.items()}
        try:
            metrics = list(ir_measures.iter_calc(list(group.values()), evaluated_qrels, scored_run))
        except ValueError as error:  # e.g. a parameter combination no provider implements
            raise InputError(str(error), field="measures") from None
        for metric in metrics:
            display = by_identity.get(id(metric.measure)) or by_value[metric.measure]
            if metric.query_id in per_query[display]:
                per_query[display][metric.query_id] = float(metric.value)
    aggregate = {m: math.fsum(values.values()) / len(values) for m, values in per_query.items()}
    return EvaluationResult(name=name, aggregate=aggregate, per_query=per_query, measures=tuple(measures),
                            relevance_threshold=relevance_threshold, ndcg_gain=ndcg_gain, skipped_queries=skipped)
