"""Training rows in the one layout every bixse loss reads, built from graded labels.

A row is ``query, document_0, ..., document_{M-1}, label`` with ``label`` a list of M floats:
the graded score of each slot, or -1.0 for an empty slot (document ""). What the slots hold
depends on the loss's ``layout`` (see ``bixse.losses.base``):

- ``pointwise`` (BiXSE): one row per labelled pair, whatever its score (a pair scored 0 is an
  explicit negative, which the pointwise loss learns from). Hard negatives: the query's other
  judged documents, lowest score first, each with its own score.
- ``contrastive`` (InfoNCE, MW-AUC): one row per pair with score >= the positive threshold
  (the positive in slot 0); hard negatives: the query's judged documents scored below it,
  lowest first.
- ``multi_positive`` and ``scored_list``: one row per query, its judged documents as slots,
  highest score first, at most ``max_candidates`` of them, padded with empty slots to the
  longest list.

Within a query a document counts once (its first label); documents are told apart by id when
the labels carry one, else by text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bixse.collections.training_data import GradedPair, MultiPositiveGroup
from bixse.errors import InputError
from bixse.io import iter_jsonl
from bixse.losses.batch import EMPTY_SLOT

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class Candidate:
    document: str
    score: float
    key: str


@dataclass(frozen=True)
class QueryCandidates:
    """A query and its judged documents, in the order the labels listed them."""

    query: str
    candidates: tuple[Candidate, ...]

    def positives(self, threshold: float) -> list[Candidate]:
        return [c for c in self.candidates if c.score >= threshold]

    def below(self, threshold: float) -> list[Candidate]:
        return [c for c in self.candidates if c.score < threshold]


@dataclass(frozen=True)
class BuiltDataset:
    """The rows and what went into them (for the log and the model card)."""

    columns: Columns
    layout: str
    slots: int
    num_queries: int
    dropped_queries: int = 0

    @property
    def num_rows(self) -> int:
        return len(self.columns["query"])

    def to_dataset(self) -> Any:
        from datasets import Dataset

        return Dataset.from_dict(self.columns)


def candidates_by_query(examples: Iterable[GradedPair | MultiPositiveGroup]) -> list[QueryCandidates]:
    """Group labelled documents by query (id when known, else text), keeping first-seen order."""
    queries: dict[str, str] = {}
    members: dict[str, dict[str, Candidate]] = {}
    for example in examples:
        query_key = example.query_id or example.query
        queries.setdefault(query_key, example.query)
        seen = members.setdefault(query_key, {})
        if isinstance(example, GradedPair):
            scored = [(example.document, example.score, example.doc_id)]
        else:
            scored = [(d.document, d.score, d.doc_id) for d in (*example.positives, *example.negatives)]
        for document, score, doc_id in scored:
            key = doc_id or document
            seen.setdefault(key, Candidate(document, float(score), key))
    return [QueryCandidates(queries[key], tuple(docs.values())) for key, docs in members.items()]


def _lowest_first(candidates: Iterable[Candidate], limit: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.score)[:limit]


def _highest_first(candidates: Iterable[Candidate], limit: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: -c.score)[:limit]


def _columns(rows: list[tuple[str, list[Candidate]]], slots: int) -> Columns:
    columns: Columns = {"query": [row[0] for row in rows]}
    for slot in range(slots):
        columns[f"document_{slot}"] = [docs[slot].document if slot < len(docs) else "" for _, docs in rows]
    columns["label"] = [[docs[s].score if s < len(docs) else EMPTY_SLOT for s in range(slots)] for _, docs in rows]
    return columns


def pointwise_rows(queries: list[QueryCandidates], hard_negatives: int = 0) -> BuiltDataset:
    rows = []
    for query in queries:
        for labelled in query.candidates:
            others = _lowest_first((c for c in query.candidates if c is not labelled), hard_negatives)
            rows.append((query.query, [labelled, *others]))
    return BuiltDataset(_columns(rows, 1 + hard_negatives), "pointwise", 1 + hard_negatives, len(queries))


def contrastive_rows(queries: list[QueryCandidates], hard_negatives: int = 0,
                     positive_threshold: float = 0.5) -> BuiltDataset:
    rows, used = [], 0
    for query in queries:
        negatives = _lowest_first(query.below(positive_threshold), hard_negatives)
        positives = query.positives(positive_threshold)
        used += bool(positives)
        rows.extend((query.query, [positive, *negatives]) for positive in positives)
    return BuiltDataset(_columns(rows, 1 + hard_negatives), "contrastive", 1 + hard_negatives, used,
                        len(queries) - used)


def list_rows(queries: list[QueryCandidates], layout: str, max_candidates: int,
              positive_threshold: float | None = None) -> BuiltDataset:
    """One row per query; with ``positive_threshold``, queries without a positive are left out."""
    kept = [q for q in queries if positive_threshold is None or q.positives(positive_threshold)]
    rows = [(q.query, _highest_first(q.candidates, max_candidates)) for q in kept]
    slots = max((len(docs) for _, docs in rows), default=1)
    return BuiltDataset(_columns(rows, slots), layout, slots, len(kept), len(queries) - len(kept))


def build_rows(examples: Iterable[GradedPair | MultiPositiveGroup], layout: str, *, loss: str,
               hard_negatives: int = 0, positive_threshold: float = 0.5, max_candidates: int = 32,
               origin: str = "the training data") -> BuiltDataset:
    """The training rows of ``layout`` from labelled examples; an input the loss cannot learn
    from is an ``InputError`` that says why (raised before any model is loaded)."""
    queries = candidates_by_query(examples)
    if layout == "pointwise":
        return pointwise_rows(queries, hard_negatives)
    if layout == "contrastive":
        built = contrastive_rows(queries, hard_negatives, positive_threshold)
        if built.num_rows == 0:
            raise InputError(f"loss '{loss}' needs positives, but no label in {origin} reaches the positive "
                             f"threshold {positive_threshold} (lower positive_threshold or use the pointwise "
                             "loss 'bixse', which learns from any graded score)", field="loss")
        return built
    if layout == "multi_positive":
        if all(len(q.candidates) == 1 for q in queries):
            raise InputError(f"loss '{loss}' compares each query's positives with its other candidates, but "
                             f"every query in {origin} has a single labelled document; with one pair per "
                             "query it reduces to InfoNCE: use --loss infonce (or bixse), or give several "
                             "judged documents per query", field="loss")
        built = list_rows(queries, layout, max_candidates, positive_threshold)
        if built.num_rows == 0:
            raise InputError(f"loss '{loss}' needs at least one positive per query, but no label in {origin} "
                             f"reaches the positive threshold {positive_threshold}", field="loss")
        return built
    if layout == "scored_list":
        if not any(len({c.score for c in q.candidates}) > 1 for q in queries):
            raise InputError(f"loss '{loss}' learns from score differences between a query's documents, but "
                             f"no query in {origin} has two documents with different scores", field="loss")
        return list_rows([q for q in queries if len(q.candidates) > 1], layout, max_candidates)
    raise InputError(f"unknown layout '{layout}'", field="loss")


# --- rows given ready-made (a JSONL file or a datasets.Dataset in the layout) ---------------

def check_row(row: Mapping[str, Any], slots: int | None, *, path: str | Path | None = None,
              line: int | None = None) -> int:
    """Validate one layout row; return its number of slots M (which every row must share)."""
    where = {"path": path, "line": line}
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InputError("missing column or empty query" if query is None or isinstance(query, str)
                         else "expected a string", field="query", **where)
    label = row.get("label")
    if not isinstance(label, (list, tuple)) or not label:
        raise InputError("missing column: expected a list of M scores (-1.0 = empty slot)", field="label", **where)
    if slots is not None and len(label) != slots:
        raise InputError(f"{len(label)} scores where earlier rows have {slots}", field="label", **where)
    for slot, score in enumerate(label):
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not (
                score == EMPTY_SLOT or 0.0 <= score <= 1.0):
            raise InputError(f"score {score!r} is neither in [0, 1] nor -1.0 (empty)", field=f"label[{slot}]", **where)
        document = row.get(f"document_{slot}")
        if not isinstance(document, str):
            raise InputError(f"missing column (label has {len(label)} scores)", field=f"document_{slot}", **where)
        if score != EMPTY_SLOT and not document.strip():
            raise InputError("empty document in a filled slot", field=f"document_{slot}", **where)
    if label[0] == EMPTY_SLOT:
        raise InputError("slot 0 (the labelled document) is empty", field="label[0]", **where)
    extra = {key for key in row if key.startswith("document_")} - {f"document_{s}" for s in range(len(label))}
    if extra:
        raise InputError(f"column {sorted(extra)[0]} has no score in label", field="label", **where)
    return len(label)


def read_layout_file(path: str | Path, layout: str, loss: str) -> BuiltDataset:
    """Read ready-made rows from JSONL (one row a line), validated line by line."""
    rows: list[dict[str, Any]] = []
    slots = None
    for line, record in iter_jsonl(path):
        slots = check_row(record, slots, path=path, line=line)
        rows.append(record)
    if not rows:
        raise InputError("no training rows in file", path=path)
    return layout_rows(rows, layout, loss, origin=str(path))


def layout_rows(rows: list[Mapping[str, Any]], layout: str, loss: str, origin: str = "the rows") -> BuiltDataset:
    """Ready-made rows, already checked with ``check_row``, as a ``BuiltDataset`` for ``layout``."""
    slots = len(rows[0]["label"])
    if layout == "multi_positive" and slots == 1:
        raise InputError(f"loss '{loss}' needs several candidate documents per row, but {origin} has one "
                         "document per row: use --loss infonce (or bixse)", field="loss")
    columns: Columns = {"query": [r["query"] for r in rows]}
    for slot in range(slots):
        columns[f"document_{slot}"] = [r[f"document_{slot}"] for r in rows]
    columns["label"] = [[float(s) for s in r["label"]] for r in rows]
    return BuiltDataset(columns, layout, slots, len(set(columns["query"])))


def dataset_rows(dataset: Any, layout: str, loss: str) -> BuiltDataset:
    """A ``datasets.Dataset`` given by a library caller, validated like a layout file."""
    missing = [c for c in ("query", "document_0", "label") if c not in dataset.column_names]
    if missing:
        raise InputError(f"missing column; the dataset has {dataset.column_names}", field=missing[0])
    rows, slots = [], None
    for index, row in enumerate(dataset):
        slots = check_row(row, slots, path="dataset", line=index + 1)
        rows.append(row)
    if not rows:
        raise InputError("the dataset has no rows", field="query")
    return layout_rows(rows, layout, loss, origin="the dataset")
