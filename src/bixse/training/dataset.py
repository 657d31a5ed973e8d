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

import atexit
import os
import shutil
import socket
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bixse.collections.training_data import GradedPair, MultiPositiveGroup
from bixse.errors import InputError
from bixse.io import iter_jsonl
from bixse.losses.batch import EMPTY_SLOT

Columns = dict[str, list[Any]]

# Rows per Arrow record batch that ``to_dataset`` writes (a few MB of text each).
CHUNK_ROWS = 8192


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


class TextTable:
    """Each distinct text once; rows refer to texts by index. Index 0 is the empty slot's ""."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))

    def texts(self) -> list[str]:
        return list(self.index)  # dicts keep insertion order: texts[i] has index i


class RowBuilder:
    """Rows appended as text indices and scores into flat machine arrays (no per-row objects)."""

    def __init__(self, slots: int, table: TextTable | None = None) -> None:
        self.slots = slots
        self.table = table or TextTable()
        self.query = array("q")
        self.documents = array("q")
        self.labels = array("d")

    def add(self, query: int, documents: list[int], labels: list[float]) -> None:
        """One row: text indices of its query and filled slots, their scores; the rest is padded."""
        pad = self.slots - len(documents)
        self.query.append(query)
        self.documents.extend(documents)
        self.labels.extend(labels)
        if pad:
            self.documents.extend([0] * pad)
            self.labels.extend([EMPTY_SLOT] * pad)

    def build(self, layout: str, num_queries: int, dropped_queries: int = 0) -> BuiltDataset:
        rows = len(self.query)
        return BuiltDataset(self.table.texts(), np.frombuffer(self.query, dtype=np.int64),
                            np.frombuffer(self.documents, dtype=np.int64).reshape(rows, self.slots),
                            np.frombuffer(self.labels, dtype=np.float64).reshape(rows, self.slots),
                            layout, num_queries, dropped_queries)


@dataclass(frozen=True, eq=False)
class BuiltDataset:
    """The rows and what went into them (for the log and the model card).

    Rows are kept compactly: each distinct text once in ``texts``, and per row the index of its
    query text (``query_text``), of each slot's document text (``document_text``, rows x slots;
    an empty slot is text 0, "") and the slots' scores (``labels``, rows x slots; -1.0 empty).
    ``columns`` spells them out as lists; ``to_dataset`` writes them to Arrow without doing so.
    """

    texts: list[str] = field(repr=False)
    query_text: np.ndarray = field(repr=False)
    document_text: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    layout: str
    num_queries: int
    dropped_queries: int = 0

    @classmethod
    def from_columns(cls, columns: Mapping[str, list[Any]], layout: str, num_queries: int,
                     dropped_queries: int = 0) -> BuiltDataset:
        """From layout columns (``query``, ``document_0..M-1``, ``label``) as lists."""
        slots = len(columns["label"][0]) if columns["label"] else 1
        builder = RowBuilder(slots)
        table = builder.table
        names = [f"document_{s}" for s in range(slots)]
        for row, query in enumerate(columns["query"]):
            builder.add(table(query), [table(columns[name][row]) for name in names],
                        [float(score) for score in columns["label"][row]])
        return builder.build(layout, num_queries, dropped_queries)

    @property
    def slots(self) -> int:
        return self.document_text.shape[1]

    @property
    def num_rows(self) -> int:
        return len(self.query_text)

    @property
    def columns(self) -> Columns:
        """The rows as ``{"query": [...], "document_0": [...], ..., "label": [[...], ...]}`` (built on each call)."""
        texts = self.texts
        columns: Columns = {"query": [texts[i] for i in self.query_text.tolist()]}
        for slot in range(self.slots):
            columns[f"document_{slot}"] = [texts[i] for i in self.document_text[:, slot].tolist()]
        columns["label"] = self.labels.tolist()
        return columns

    def record_batches(self, chunk_rows: int | None = None) -> Iterator[Any]:
        """The rows as pyarrow record batches of ``chunk_rows`` rows, texts taken from one text array."""
        import pyarrow as pa

        chunk_rows = chunk_rows or CHUNK_ROWS
        schema = self.arrow_schema()
        texts = pa.array(self.texts, type=pa.large_string())  # one copy of each text
        slots = self.slots
        for start in range(0, self.num_rows, chunk_rows):
            stop = min(start + chunk_rows, self.num_rows)
            columns = [texts.take(pa.array(self.query_text[start:stop])).cast(pa.string())]
            documents = self.document_text[start:stop]
            columns += [texts.take(pa.array(documents[:, s])).cast(pa.string()) for s in range(slots)]
            offsets = pa.array(np.arange(0, (stop - start) * slots + 1, slots, dtype=np.int32))
            columns.append(pa.ListArray.from_arrays(offsets, pa.array(self.labels[start:stop].ravel())))
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    def arrow_schema(self) -> Any:
        """The layout's columns as the ``datasets.Dataset`` of ``Dataset.from_dict(self.columns)`` types them."""
        from datasets import Features, Value

        try:
            from datasets import List as ListFeature
        except ImportError:  # datasets < 4
            from datasets import Sequence as ListFeature
        features = {"query": Value("string"), **{f"document_{s}": Value("string") for s in range(self.slots)},
                    "label": ListFeature(Value("float64"))}
        return Features(features).arrow_schema

    def to_dataset(self, keep_in_memory: bool = False, cache_dir: str | Path | None = None) -> Any:
        """The rows as a ``datasets.Dataset``, written in chunks to an Arrow file that it memory-maps.

        The file lies in a fresh folder under ``cache_dir`` (default: the datasets cache,
        ``HF_DATASETS_CACHE``, folder ``bixse-rows``) and goes when the process exits. With
        ``keep_in_memory`` the Arrow table stays in memory instead (still one buffer per column,
        no Python object per row).
        """
        import pyarrow as pa
        from datasets import Dataset

        if keep_in_memory:
            batches = list(self.record_batches())
            return Dataset(pa.Table.from_batches(batches, schema=self.arrow_schema()))
        path = _rows_folder(cache_dir) / "rows.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, self.arrow_schema()) as writer:
            for batch in self.record_batches():
                writer.write_batch(batch)
        pa.default_memory_pool().release_unused()  # the chunks' buffers, which the allocator keeps otherwise
        return Dataset.from_file(str(path))


def _rows_folder(cache_dir: str | Path | None) -> Path:
    """A fresh folder for one ``to_dataset`` file, removed at exit (the system's temp dir if the cache is read-only).

    Its name carries the host and process id, so that the folders of killed processes of this
    host (which left no exit to remove them) are removed by the next run.
    """
    if cache_dir is None:
        from datasets import config

        cache_dir = Path(config.HF_DATASETS_CACHE) / "bixse-rows"
    prefix = f"rows-{socket.gethostname()}-"
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        _remove_orphans(Path(cache_dir), prefix)
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=cache_dir))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="bixse-rows-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _remove_orphans(cache_dir: Path, prefix: str) -> None:
    if os.name != "posix":  # os.kill(pid, 0) tests for a process only there
        return
    for folder in cache_dir.glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


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


def _add_rows(builder: RowBuilder, query: str, rows: Iterable[list[Candidate]]) -> None:
    table = builder.table
    query_index = table(query)
    for docs in rows:
        builder.add(query_index, [table(c.document) for c in docs], [c.score for c in docs])


def pointwise_rows(queries: list[QueryCandidates], hard_negatives: int = 0) -> BuiltDataset:
    builder = RowBuilder(1 + hard_negatives)
    for query in queries:
        _add_rows(builder, query.query, (
            [labelled, *_lowest_first((c for c in query.candidates if c is not labelled), hard_negatives)]
            for labelled in query.candidates))
    return builder.build("pointwise", len(queries))


def contrastive_rows(queries: list[QueryCandidates], hard_negatives: int = 0,
                     positive_threshold: float = 0.5) -> BuiltDataset:
    builder, used = RowBuilder(1 + hard_negatives), 0
    for query in queries:
        negatives = _lowest_first(query.below(positive_threshold), hard_negatives)
        positives = query.positives(positive_threshold)
        used += bool(positives)
        _add_rows(builder, query.query, ([positive, *negatives] for positive in positives))
    return builder.build("contrastive", used, len(queries) - used)


def list_rows(queries: list[QueryCandidates], layout: str, max_candidates: int,
              positive_threshold: float | None = None) -> BuiltDataset:
    """One row per query; with ``positive_threshold``, queries without a positive are left out."""
    kept = [q for q in queries if positive_threshold is None or q.positives(positive_threshold)]
    slots = max((min(len(q.candidates), max_candidates) for q in kept), default=1)
    builder = RowBuilder(slots)
    for q in kept:
        _add_rows(builder, q.query, [_highest_first(q.candidates, max_candidates)])
    return builder.build(layout, len(kept), len(queries) - len(kept))


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
    builder = RowBuilder(slots)
    table = builder.table
    names = [f"document_{slot}" for slot in range(slots)]
    for r in rows:
        builder.add(table(r["query"]), [table(r[name]) for name in names], [float(s) for s in r["label"]])
    return builder.build(layout, len(set(builder.query)))


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
