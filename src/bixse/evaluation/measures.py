"""Scoring a run against graded qrels with ir_measures (trec_eval's definitions via pytrec_eval).

Conventions, stated because numbers are compared across papers:

- **nDCG@k** uses the graded qrels with trec_eval's *linear* gain (gain = grade; DCG discount
  1/log2(rank+1)), as ``trec_eval -m ndcg_cut`` and BEIR report it. ``ndcg_gain="exponential"``
  gives Burges et al.'s 2^grade - 1 variant instead.
- **Binary measures** (MRR@k, R@k, MAP, P@k) count a document relevant when its grade is
  ``>= relevance_threshold`` (default 1: any positive grade; on Cranfield, Cleverdon grades 1-4).
- **Ties** in a run's scores are broken as trec_eval breaks them (doc id descending), for
  every measure, MRR@k included; scores are compared as trec_eval stores them (C floats), so two
  that are equal in float32 tie.
- **Queries**: the ones in the qrels with at least one relevant document (grade >= threshold);
  a query missing from the run scores 0 (and a warning counts them); run queries absent from the
  qrels are ignored. A run sharing no query id with the qrels is an error, not a 0.000: its ids
  follow another convention (``q1`` vs ``1``). MAP is computed over the retrieved list (so
  MAP@top_k of the run).

Measure names: ``nDCG@k``, ``MRR@k``, ``R@k`` (or ``Recall@k``), ``P@k``, ``MAP``, or any
ir_measures name (``nDCG(dcg=exp-log2)@10``, ``Judged@10``...); the threshold is applied to
every measure that takes ``rel`` and was not given one.

nDCG@k (linear gain), MRR/RR (@k), R@k, P@k and MAP/AP (@k) are computed by the fast path below
with trec_eval's arithmetic, the same values as ir_measures' (tests compare the two); every other
measure, and these with other parameters (judged_only, a rel other than the threshold, gains), by
ir_measures.
"""

from __future__ import annotations

import logging
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import numpy as np

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
    if measure.NAME in ("R", "P") and "cutoff" not in params:  # ir_measures would fail only once scoring
        raise InputError(f"'{name}' needs a cutoff, e.g. {measure.NAME}@100", field="measure")
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
    covered = sum(map(run.__contains__, evaluated))
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
                + "; trec_eval's definitions (ir_measures, or a fast path that matches it)")

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


def _by_run_depth(measure_objects: Mapping[str, Any]) -> dict[tuple[int | None, bool], dict[str, Any]]:
    """Group measures by the run they are computed on: ``(depth, judged documents only)``
    (depth None: the whole run).

    trec_eval's ``recip_rank`` has no cutoff, so ir_measures would send RR@k to its MS MARCO
    provider, which breaks score ties by doc id *ascending* (trec_eval: descending) and runs in
    Python. RR@k is instead trec_eval's ``recip_rank`` on the run cut at rank k: the same
    value, with the tie order every other measure here uses. Judged-only RR@k drops the
    unjudged documents before the cut, as judged-only does for every measure.
    """
    import ir_measures

    groups: dict[tuple[int | None, bool], dict[str, Any]] = {}
    for display, measure in measure_objects.items():
        depth, judged_first = None, False
        if measure.NAME == "RR" and "cutoff" in measure.params:
            params = {key: value for key, value in measure.params.items() if key not in ("cutoff", "judged_only")}
            judged_first = bool(measure.params.get("judged_only", False))
            depth, measure = int(measure.params["cutoff"]), ir_measures.measures.RR(**params)
        groups.setdefault((depth, judged_first), {})[display] = measure
    return groups


def _judged_only(run: Run, qrels: Qrels) -> Run:
    return {q: {d: s for d, s in docs.items() if d in qrels.get(q, {})} for q, docs in run.items()}


def _trec_eval_top_k(run: Run, k: int) -> Run:
    """Each query's first ``k`` documents in trec_eval's order: score descending as trec_eval
    holds it (a C ``float``, so scores equal in float32 tie), ties by doc id descending."""
    top = {}
    for q, docs in run.items():
        ids = list(docs)
        ranked = sorted(zip(_float32(np.fromiter(docs.values(), np.float64, len(ids))).tolist(), ids), reverse=True)
        top[q] = {doc: docs[doc] for _, doc in ranked[:k]}
    return top


def _float32(scores: np.ndarray) -> np.ndarray:
    """Scores as trec_eval keeps them (a C float); beyond float32's range, an infinity as in C."""
    with np.errstate(over="ignore"):
        return scores.astype(np.float32)


# --- Fast path ---------------------------------------------------------------------------------
#
# ir_measures at MS MARCO scale (100k queries x 100 documents) spends its time converting the run,
# cutting it to RR@k's depth in Python, calling pytrec_eval twice and making one Metric per query
# and measure; pytrec_eval itself copies every doc id into C and sorts every ranking twice. The
# common measures need far less: the rank of each *judged* document. In trec_eval's order that
# rank is 1 + the documents scoring more (scores compared as the C floats trec_eval stores) + the
# documents with an equal score and a greater doc id. So the scores are read into one float32
# array, the judged documents' ranks are counted with numpy, and each measure is computed from
# them with trec_eval's own arithmetic, term by term in rank order (the same operations in the
# same order: equal values). tests/evaluation/test_measures_fast_path.py checks them against the
# ir_measures path. Anything else (other measures or parameters, exponential gains, a grade that
# is not an int, a NaN score) goes through ir_measures as before.

_FAST_KINDS = {"nDCG": "ndcg", "RR": "rr", "R": "recall", "P": "precision", "AP": "ap"}
_CELLS = 1 << 22  # score comparisons per numpy step of the rank count (a few MB of temporaries)


@dataclass(frozen=True)
class _FastMeasure:
    kind: str  # ndcg (linear gain, trec_eval's ndcg_cut), rr, recall, precision, ap
    cutoff: int | None  # None: the whole run (RR, AP)


def _fast_measure(measure: Any, relevance_threshold: int) -> _FastMeasure | None:
    """What the fast path computes for an ir_measures ``measure``; None: not one it computes
    (ir_measures scores it)."""
    kind = _FAST_KINDS.get(measure.NAME)
    params = dict(measure.params)
    cutoff = params.pop("cutoff", None)
    if kind is None or params.pop("judged_only", False):
        return None
    if type(relevance_threshold) is not int or relevance_threshold < 1:  # pytrec_eval's bounds
        return None
    if kind == "ndcg":
        if cutoff is None or params.pop("dcg", "log2") != "log2":  # gains stay in params
            return None
    elif params.pop("rel", relevance_threshold) != relevance_threshold:
        return None
    if params or (cutoff is not None and (type(cutoff) is not int or cutoff < 1)):
        return None
    return _FastMeasure(kind, cutoff)


def _read_scores(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """Every query's ranking length and all scores as float32, queries one after the other;
    None for a NaN score (trec_eval's order is then undefined) or a ranking that is no dict."""
    rankings = list(run.values())
    try:
        lengths = np.fromiter(map(len, rankings), np.int64, len(rankings))
        scores = np.fromiter(chain.from_iterable(map(dict.values, rankings)), np.float64, int(lengths.sum()))
    except (TypeError, ValueError):
        return None
    if np.isnan(scores).any():
        return None
    return lengths, _float32(scores)


def _judged_documents(run: Run, qrels: Qrels) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """Every judged document of the run's queries: its query's row in the run, its grade, its
    float32 score (NaN: not retrieved) and its id; None if a grade is not an int (pytrec_eval
    refuses it: ir_measures then says so, as before). One pass in C over each, no Python loop."""
    judgements = [qrels[query_id] for query_id in run]
    try:
        docs = list(chain.from_iterable(judgements))
        grades = list(chain.from_iterable(map(dict.values, judgements)))
        if not set(map(type, grades)) <= {int, bool}:
            return None
        grade_array = np.array(grades, np.int64)
        rankings = chain.from_iterable(map(repeat, run.values(), map(len, judgements)))  # one per doc
        scores = np.fromiter(map(dict.get, rankings, docs, repeat(math.nan)), np.float64, len(docs))
    except (TypeError, ValueError, OverflowError):
        return None
    rows = np.repeat(np.arange(len(judgements)), np.fromiter(map(len, judgements), np.int64, len(judgements)))
    return rows, grade_array, _float32(scores), docs


def _padded(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Consecutive rankings as the rows of a matrix, NaN after each one's end (NaN compares
    false: it counts neither above nor tied)."""
    width = int(lengths.max())
    if (lengths == width).all():
        return scores.reshape(len(lengths), width)
    block = np.full((len(lengths), width), np.nan, np.float32)
    block[np.arange(width) < lengths[:, None]] = scores
    return block


def _trec_eval_ranks(run: Run, lengths: np.ndarray, scores: np.ndarray, rows: np.ndarray,
                     judged_scores: np.ndarray, docs: list[str]) -> np.ndarray:
    """trec_eval's rank of each judged document in its query's ranking (0: not retrieved):
    1 + the documents scoring more + the documents scoring the same with a greater doc id
    (strcmp order: Python's, for UTF-8)."""
    ranks = np.zeros(len(rows), np.int64)
    retrieved = np.flatnonzero(~np.isnan(judged_scores))
    retrieved_rows = rows[retrieved]  # in run order, as the rows were numbered
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    rankings = list(run.values())
    step = max(1, _CELLS // max(1, int(lengths.max())))
    for start in range(0, len(lengths), step):
        stop = min(start + step, len(lengths))
        lo, hi = np.searchsorted(retrieved_rows, [start, stop])
        if lo == hi:
            continue
        block = _padded(scores[offsets[start]:offsets[stop]], lengths[start:stop])
        pairs = retrieved[lo:hi]
        batch = max(1, _CELLS // block.shape[1])
        for first in range(0, len(pairs), batch):
            part = pairs[first:first + batch]
            candidates, own = block[rows[part] - start], judged_scores[part, None]
            ranks[part] = np.count_nonzero(candidates > own, axis=1) + 1
            for index in part[np.count_nonzero(candidates == own, axis=1) > 1]:
                ranks[index] += _tied_above(rankings[rows[index]], block[rows[index] - start],
                                            judged_scores[index], docs[index])
    return ranks


def _tied_above(ranking: Mapping[str, float], row_scores: np.ndarray, score: np.float32, doc: str) -> int:
    """The documents of ``ranking`` with ``doc``'s (float32) score that trec_eval puts before it."""
    tied = itemgetter(*(row_scores == score).nonzero()[0].tolist())(list(ranking))  # doc and >= 1 more
    return sum(map(operator.lt, repeat(doc), tied))  # the tied ids greater than doc's


class _JudgedRanks:
    """The judged documents of the ranked queries (rows 0..n-1), with the per-query pieces the
    measures share; each measure returns one float64 value per row."""

    def __init__(self, rows: np.ndarray, grades: np.ndarray, ranks: np.ndarray, num_rows: int, threshold: int):
        self.num_rows = num_rows
        self.rows, self.grades, self.ranks = rows, grades, ranks
        relevant = grades >= threshold
        self.num_rel = np.bincount(rows[relevant], minlength=num_rows).astype(np.float64)
        hit = np.flatnonzero(relevant & (ranks > 0))
        hit = hit[np.lexsort((ranks[hit], rows[hit]))]  # by query, then rank
        self.hit_rows, self.hit_ranks = rows[hit], ranks[hit]
        counts = np.bincount(self.hit_rows, minlength=num_rows)
        starts = np.cumsum(counts) - counts
        self.rel_so_far = np.arange(1, len(hit) + 1) - starts[self.hit_rows]  # 1, 2... within a query
        self.first_rank = np.zeros(num_rows, np.int64)
        found = counts > 0
        self.first_rank[found] = self.hit_ranks[starts[found]]

    def _per_row(self, rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        # bincount adds the weights in array order: each query's terms in rank order, from 0.0,
        # as trec_eval's loops do.
        return np.bincount(rows, weights, minlength=self.num_rows).astype(np.float64)

    def rr(self, cutoff: int | None) -> np.ndarray:
        """trec_eval recip_rank (1 / rank of the first relevant document); with a cutoff, on the
        ranking cut there: the same value if that rank is within it, else 0."""
        found = (self.first_rank > 0) & (self.first_rank <= (cutoff or np.iinfo(np.int64).max))
        values = np.zeros(self.num_rows)
        values[found] = 1.0 / self.first_rank[found]
        return values

    def recall(self, cutoff: int) -> np.ndarray:
        return self._per_row(self.hit_rows[self.hit_ranks <= cutoff]) / self.num_rel

    def precision(self, cutoff: int) -> np.ndarray:
        return self._per_row(self.hit_rows[self.hit_ranks <= cutoff]) / cutoff

    def ap(self, cutoff: int | None) -> np.ndarray:
        """trec_eval map (map_cut with a cutoff): the sum of rel_so_far / rank over the relevant
        retrieved documents, over the number of relevant documents."""
        keep = slice(None) if cutoff is None else self.hit_ranks <= cutoff
        rows, ranks = self.hit_rows[keep], self.hit_ranks[keep]
        return self._per_row(rows, self.rel_so_far[keep] / ranks) / self.num_rel

    def ndcg(self, cutoff: int) -> np.ndarray:
        """trec_eval ndcg_cut: gain = grade (grades > 0), discount log2(rank + 1), over the ideal
        ordering of the query's positive grades (all of them, whatever the threshold)."""
        retrieved = np.flatnonzero((self.grades > 0) & (self.ranks > 0) & (self.ranks <= cutoff))
        retrieved = retrieved[np.lexsort((self.ranks[retrieved], self.rows[retrieved]))]
        positive = np.flatnonzero(self.grades > 0)
        positive = positive[np.lexsort((-self.grades[positive], self.rows[positive]))]
        counts = np.bincount(self.rows[positive], minlength=self.num_rows)
        ideal_ranks = np.arange(1, len(positive) + 1) - (np.cumsum(counts) - counts)[self.rows[positive]]
        ideal = positive[ideal_ranks <= cutoff]
        ideal_ranks = ideal_ranks[ideal_ranks <= cutoff]
        depth = max(int(self.ranks[retrieved].max(initial=0)), int(ideal_ranks.max(initial=0)))
        log2 = np.array([math.log2(rank + 1) for rank in range(depth + 1)])  # C's log2, as trec_eval
        dcg = self._per_row(self.rows[retrieved], self.grades[retrieved] / log2[self.ranks[retrieved]])
        ideal_dcg = self._per_row(self.rows[ideal], self.grades[ideal] / log2[ideal_ranks])
        return np.divide(dcg, ideal_dcg, out=dcg.copy(), where=ideal_dcg > 0)


def _evaluate_fast(run: Run, qrels: Qrels, fast: Mapping[str, _FastMeasure],
                   threshold: int) -> dict[str, np.ndarray] | None:
    """Each ``fast`` measure's values, one per query of ``run`` in its order (queries all in
    ``qrels``, with a relevant document and a non-empty ranking); None where the fast path does
    not apply."""
    read = _read_scores(run)
    judged = _judged_documents(run, qrels) if read is not None else None
    if judged is None:
        return None
    (lengths, scores), (rows, grades, judged_scores, docs) = read, judged
    ranks = _trec_eval_ranks(run, lengths, scores, rows, judged_scores, docs)
    judged_ranks = _JudgedRanks(rows, grades, ranks, len(run), threshold)
    return {display: getattr(judged_ranks, measure.kind)(measure.cutoff) for display, measure in fast.items()}


def _by_query(evaluated: Sequence[str], scored: Sequence[str], values: np.ndarray) -> dict[str, float]:
    """``values`` (one per query of ``scored``, ``evaluated`` less some) by query of
    ``evaluated``, in its order, 0.0 for the others."""
    if len(scored) == len(evaluated):
        return dict(zip(evaluated, values.tolist()))
    by_query = dict.fromkeys(evaluated, 0.0)
    by_query.update(zip(scored, values.tolist()))
    return by_query


def _evaluate_with_ir_measures(measure_objects: Mapping[str, Any], qrels: Qrels, run: Run,
                               per_query: dict[str, dict[str, float]]) -> None:
    """Fill ``per_query`` with ir_measures' values of ``measure_objects`` (queries of ``run``
    all in ``qrels``, each with a relevant document and a non-empty ranking)."""
    import ir_measures

    for (depth, judged_first), group in _by_run_depth(measure_objects).items():
        source = _judged_only(run, qrels) if judged_first else run
        scored_run = source if depth is None else _trec_eval_top_k(source, depth)
        # Providers yield the measure objects they were given, one of equal ones ("MAP" and
        # "AP"): each fills every display name equal to it. Matching by identity avoids hashing
        # a measure (its repr) once per query and measure.
        by_value: dict[Any, list[str]] = {}
        for display, measure in group.items():
            by_value.setdefault(measure, []).append(display)
        by_identity = {id(measure): by_value[measure] for measure in group.values()}
        try:
            metrics = list(ir_measures.iter_calc(list(group.values()), qrels, scored_run))
        except ValueError as error:  # e.g. a parameter combination no provider implements
            raise InputError(str(error), field="measures") from None
        for metric in metrics:
            for display in by_identity.get(id(metric.measure)) or by_value[metric.measure]:
                if metric.query_id in per_query[display]:
                    per_query[display][metric.query_id] = float(metric.value)


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
    qrels) and the warning (some queries missing). nDCG@k, RR@k and RR, R@k, P@k, AP and AP@k
    (linear gain, the threshold's ``rel``) are computed by the fast path above, the rest by
    ir_measures; both give trec_eval's values.

    >>> qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    >>> run = {"q1": {"d2": 0.9, "d1": 0.8}, "q2": {"d3": 0.5}}
    >>> evaluate_run(run, qrels).aggregate["MRR@10"]
    0.75
    """
    return _evaluate(run, qrels, measures, relevance_threshold, ndcg_gain, name, path, fast_path=True)


def _evaluate(run: Run, qrels: Qrels, measures: Sequence[str], relevance_threshold: int, ndcg_gain: NdcgGain,
              name: str, path: str | Path | None, fast_path: bool) -> EvaluationResult:
    """``evaluate_run``; ``fast_path=False`` scores every measure with ir_measures (tests
    compare the two)."""
    check_measures(measures, relevance_threshold, ndcg_gain)
    relevant = partial(operator.le, relevance_threshold)  # relevant(grade): grade >= the threshold
    evaluated = [q for q, docs in qrels.items() if any(map(relevant, docs.values()))]
    if not evaluated:
        raise InputError(f"no query in the qrels has a document with grade >= {relevance_threshold}",
                         field="relevance_threshold")
    _check_coverage(run, evaluated, name, path)
    evaluated_set = set(evaluated)
    skipped = tuple(q for q in qrels if q not in evaluated_set)
    grades = sorted({g for q in evaluated for g in qrels[q].values()}) if ndcg_gain == "exponential" else ()
    measure_objects = {m: to_ir_measure(m, relevance_threshold, ndcg_gain, grades) for m in measures}
    evaluated_qrels = {q: qrels[q] for q in evaluated} if skipped else qrels
    evaluated_run = {q: ranking for q in evaluated if (ranking := run.get(q))}
    fast = {m: spec for m, measure in measure_objects.items()
            if fast_path and (spec := _fast_measure(measure, relevance_threshold)) is not None}
    scored = (_evaluate_fast(evaluated_run, evaluated_qrels, fast, relevance_threshold)
              if fast and evaluated_run else None) or {}
    scored_ids = list(evaluated_run)
    per_query = {m: _by_query(evaluated, scored_ids, scored[m]) if m in scored else dict.fromkeys(evaluated, 0.0)
                 for m in measures}
    rest = {m: measure for m, measure in measure_objects.items() if m not in scored}
    if rest and evaluated_run:
        _evaluate_with_ir_measures(rest, evaluated_qrels, evaluated_run, per_query)
    aggregate = {m: math.fsum(values.values()) / len(values) for m, values in per_query.items()}
    return EvaluationResult(name=name, aggregate=aggregate, per_query=per_query, measures=tuple(measures),
                            relevance_threshold=relevance_threshold, ndcg_gain=ndcg_gain, skipped_queries=skipped)
