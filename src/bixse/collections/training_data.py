"""The training-data format: JSONL of graded pairs or of multi-positive groups.

Graded pairs, one labelled (query, document) pair a line; ``score`` is the probability of
relevance, the BiXSE target::

    {"query_id": "12", "doc_id": "51", "score": 0.75, "grade": 3, "source": "human"}
    {"query": "what is a shock wave", "document": "A shock wave is ...", "score": 0.1, "source": "llm:qwen2.5-7b"}

Multi-positive groups, one query a line, for the objectives of arXiv 2602.12727::

    {"query": "...", "positives": [{"document": "...", "score": 1.0}], "negatives": [{"doc_id": "9", "score": 0.0}]}

Ids (``query_id``, ``doc_id``) are resolved against a collection; texts may be given instead.

The same records may come as the rows of a CSV file (``.csv``, a header naming the columns), a
Parquet file (``.parquet``), a folder holding a ``datasets.Dataset`` saved with
``save_to_disk``, or a Hugging Face hub dataset named ``org/name`` or ``org/name:split`` (default
split ``train``; loaded with ``datasets.load_dataset``, so it needs a network or the datasets
cache); they are validated row by row as the JSONL lines are, an error naming the row as the
line (CSV: the line in the file; Parquet and datasets: the 1-based row number).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bixse.collections.model import Collection
from bixse.collections.validation import parse_grade, parse_probability
from bixse.errors import InputError
from bixse.io import iter_jsonl, open_text, write_jsonl

TABLE_SUFFIXES = (".csv", ".parquet")
FILE_SUFFIXES = (".jsonl", ".json", ".txt", *TABLE_SUFFIXES)
_HUB_DATASET = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*/[\w.-]+)(?::(?P<split>[\w.\[\]:%-]+))?$")


def hub_dataset_id(data: str | Path) -> tuple[str, str] | None:
    """``(repo id, split)`` when ``data`` names a hub dataset (``org/name[:split]``) rather than a
    local file or folder: nothing at that path and no file suffix (``data/pairs.jsonl`` stays a
    missing file, not a dataset)."""
    text = str(data)
    if Path(text).exists() or Path(text.split(":")[0]).suffix in FILE_SUFFIXES:
        return None
    match = _HUB_DATASET.match(text)
    return (match["name"], match["split"] or "train") if match else None


@dataclass(frozen=True)
class GradedPair:
    """A (query, document) pair with its relevance probability ``score`` in [0, 1]."""

    query: str
    document: str
    score: float
    query_id: str | None = None
    doc_id: str | None = None
    grade: int | None = None
    source: str | None = None

    def to_record(self) -> dict[str, Any]:
        record = {"query_id": self.query_id, "query": self.query, "doc_id": self.doc_id,
                  "document": self.document, "score": self.score, "grade": self.grade, "source": self.source}
        return {key: value for key, value in record.items() if value is not None}


@dataclass(frozen=True)
class ScoredDocument:
    document: str
    score: float
    doc_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        record = {"doc_id": self.doc_id, "document": self.document, "score": self.score}
        return {key: value for key, value in record.items() if value is not None}


@dataclass(frozen=True)
class MultiPositiveGroup:
    """A query with its positive documents (graded) and optional negatives."""

    query: str
    positives: tuple[ScoredDocument, ...]
    negatives: tuple[ScoredDocument, ...] = ()
    query_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"query": self.query,
                                  "positives": [p.to_record() for p in self.positives],
                                  "negatives": [n.to_record() for n in self.negatives]}
        if self.query_id is not None:
            record = {"query_id": self.query_id, **record}
        return record


TrainingExamples = list[GradedPair] | list[MultiPositiveGroup]


class _TextResolver:
    """Turns a record's id-or-text fields into text, locating every failure."""

    def __init__(self, path: str | Path, collection: Collection | None, check_ids: bool = False) -> None:
        self.path, self.collection, self.check_ids = path, collection, check_ids

    def resolve(self, record: Mapping[str, Any], line: int, id_field: str, text_field: str,
                table: str) -> tuple[str, str | None]:
        raw_id = record.get(id_field)
        item_id = None if raw_id is None else str(raw_id)
        text = record.get(text_field)
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise InputError("empty text" if isinstance(text, str) else "expected a string",
                                 path=self.path, line=line, field=text_field)
            if self.check_ids and item_id is not None:
                self._from_collection(item_id, line, id_field, table)
            return text.strip(), item_id
        if item_id is None:
            raise InputError(f"needs '{text_field}' or '{id_field}'", path=self.path, line=line, field=text_field)
        return self._from_collection(item_id, line, id_field, table), item_id

    def _from_collection(self, item_id: str, line: int, id_field: str, table: str) -> str:
        if self.collection is None:
            raise InputError(f"'{id_field}' given but no collection to resolve it (pass --collection)",
                             path=self.path, line=line, field=id_field)
        if table == "queries":
            if item_id not in self.collection.queries:
                raise InputError(f"unknown query '{item_id}' in collection '{self.collection.name}'",
                                 path=self.path, line=line, field=id_field)
            return self.collection.queries[item_id]
        if item_id not in self.collection.corpus:
            raise InputError(f"unknown document '{item_id}' in collection '{self.collection.name}'",
                             path=self.path, line=line, field=id_field)
        return self.collection.corpus[item_id].full_text


def iter_training_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line or row number, record)`` for each record of a JSONL, CSV or Parquet file or a saved
    ``datasets.Dataset`` folder (see the module docstring); empty CSV cells and nulls are absent."""
    if (hub := hub_dataset_id(path)) is not None:
        yield from _records_of(load_hub_dataset(*hub), str(path))
        return
    path = Path(path)
    if path.is_dir():
        yield from _dataset_records(path)
    elif path.suffix == ".csv":
        yield from _csv_records(path)
    elif path.suffix == ".parquet":
        yield from _parquet_records(path)
    else:
        yield from iter_jsonl(path)


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames:  # a spreadsheet's "UTF-8 with BOM" export
            reader.fieldnames = [reader.fieldnames[0].removeprefix("\ufeff"), *reader.fieldnames[1:]]
        for row in reader:
            if None in row:  # csv's key for the cells beyond the header's
                columns = len(reader.fieldnames or [])
                raise InputError(f"expected {columns} fields as in the header, found {columns + len(row[None])}",
                                 path=path, line=reader.line_num)
            record = {key: value for key, value in row.items() if value not in (None, "")}
            for field in ("score", "grade"):  # CSV cells are text; one that is no number stays text, for the error
                try:
                    record[field] = float(record[field])
                except (KeyError, ValueError):
                    pass
            yield reader.line_num, record


def _parquet_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow
    import pyarrow.parquet

    try:
        batches = pyarrow.parquet.ParquetFile(path).iter_batches()
        row_number = 0
        for batch in batches:
            for record in batch.to_pylist():
                row_number += 1
                yield row_number, {key: value for key, value in record.items() if value is not None}
    except pyarrow.ArrowException as error:
        raise InputError(f"cannot read as Parquet ({error})", path=path) from None


def _dataset_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise InputError("not a saved Hugging Face dataset (expected a folder written by Dataset.save_to_disk)",
                         path=path) from None
    if isinstance(dataset, datasets.DatasetDict):
        raise InputError(f"holds a DatasetDict with splits {', '.join(dataset)}: give the folder of one split "
                         f"(e.g. {path / next(iter(dataset))})", path=path)
    yield from _records_of(dataset, path)


def load_hub_dataset(name: str, split: str) -> Any:
    """``datasets.load_dataset(name, split=split)``; its failure (no such dataset or split, no
    network) as one ``InputError`` naming the dataset."""
    import datasets

    try:
        return datasets.load_dataset(name, split=split)
    except Exception as error:  # datasets raises a dozen kinds (hub, network, split, builder)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot load the hub dataset {name!r} (split {split!r}): {reason}",
                         path=f"{name}:{split}", field="data") from None


def _records_of(dataset: Any, path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for row_number, record in enumerate(dataset, start=1):
        yield row_number, {key: value for key, value in record.items() if value is not None}


def read_graded_pairs(path: str | Path, collection: Collection | None = None, *,
                      check_ids: bool = False) -> list[GradedPair]:
    """Read and validate a graded-pairs file; ids resolve against ``collection``.

    A record with texts trains on them whatever its ids; ``check_ids`` also requires those ids
    to be in ``collection`` (for uses of the ids themselves, such as writing qrels).
    """
    resolver = _TextResolver(path, collection, check_ids)
    pairs = []
    for line, record in iter_training_records(path):
        if "positives" in record:
            raise InputError("a multi-positive group in a graded-pairs file", path=path, line=line, field="positives")
        query, query_id = resolver.resolve(record, line, "query_id", "query", "queries")
        document, doc_id = resolver.resolve(record, line, "doc_id", "document", "corpus")
        if "score" not in record:
            raise InputError("missing field", path=path, line=line, field="score")
        score = parse_probability(record["score"], path=path, line=line, field="score")
        grade = None if record.get("grade") is None else parse_grade(record["grade"], path=path, line=line, field="grade")
        source = record.get("source")
        if source is not None and not isinstance(source, str):
            raise InputError("expected a string", path=path, line=line, field="source")
        pairs.append(GradedPair(query, document, score, query_id, doc_id, grade, source))
    if not pairs:
        raise InputError("no training pairs in file", path=path)
    return pairs


def read_multi_positive_groups(path: str | Path, collection: Collection | None = None) -> list[MultiPositiveGroup]:
    """Read and validate a multi-positive file: every group needs at least one positive."""
    resolver = _TextResolver(path, collection)
    groups = []
    for line, record in iter_training_records(path):
        query, query_id = resolver.resolve(record, line, "query_id", "query", "queries")
        members: dict[str, tuple[ScoredDocument, ...]] = {}
        for kind in ("positives", "negatives"):
            raw = record.get(kind, [])
            if not isinstance(raw, list):
                raise InputError("expected a list of documents", path=path, line=line, field=kind)
            docs = []
            for index, item in enumerate(raw):
                field = f"{kind}[{index}]"
                if not isinstance(item, dict):
                    raise InputError("expected an object with 'document' or 'doc_id'", path=path, line=line, field=field)
                text, doc_id = resolver.resolve(item, line, "doc_id", "document", "corpus")
                default = 1.0 if kind == "positives" else 0.0
                score = parse_probability(item.get("score", default), path=path, line=line, field=f"{field}.score")
                docs.append(ScoredDocument(text, score, doc_id))
            members[kind] = tuple(docs)
        if not members["positives"]:
            raise InputError("a group needs at least one positive", path=path, line=line, field="positives")
        groups.append(MultiPositiveGroup(query, members["positives"], members["negatives"], query_id))
    if not groups:
        raise InputError("no training groups in file", path=path)
    return groups


def read_training_file(path: str | Path, collection: Collection | None = None) -> TrainingExamples:
    """Read either layout, told apart by the first record (``positives`` marks a group file), from
    any of the containers of ``iter_training_records``."""
    for _, record in iter_training_records(path):
        if "positives" in record:
            return read_multi_positive_groups(path, collection)
        return read_graded_pairs(path, collection)
    raise InputError("empty training file", path=path)


def write_training_file(path: str | Path, examples: Iterable[GradedPair | MultiPositiveGroup]) -> int:
    """Write pairs or groups as JSONL, atomically (a .csv or .parquet name would be read as that format)."""
    if Path(path).suffix.lower() in (".csv", ".parquet"):
        raise InputError("training labels are written as JSONL: name the file .jsonl", path=path, field="output")
    return write_jsonl(path, (example.to_record() for example in examples))


def qrels_to_graded_pairs(collection: Collection, split: str = "train", source: str = "human") -> list[GradedPair]:
    """Every judgement of ``split`` as a graded pair, ``score = gain / max gain`` of the collection.

    Judged non-relevant documents (gain 0) become pairs with score 0: explicit graded negatives.
    """
    max_gain = collection.max_grade()
    if max_gain < 1:
        raise InputError(f"collection '{collection.name}' has no relevant judgement (top grade {max_gain}): "
                         "graded scores need a top grade of at least 1", field="qrels")
    pairs = []
    for query_id in collection.query_ids(split):
        for doc_id, gain in collection.qrels.get(query_id, {}).items():
            pairs.append(GradedPair(
                query=collection.queries[query_id], document=collection.corpus[doc_id].full_text,
                score=max(gain, 0) / max_gain, query_id=query_id, doc_id=doc_id, grade=gain, source=source,
            ))
    return pairs


def human_grades_of_pairs(collection: Collection, pairs: Iterable[tuple[str, str]],
                          source: str = "human") -> list[GradedPair]:
    """Each (query id, doc id) pair with its human grade as a probability, ``gain / max gain``.

    An unjudged pair scores 0: the pairs are usually a retriever's mined candidates, and on a
    pooled collection an unjudged document that a retriever surfaces is very likely
    non-relevant, which is what BiXSE's in-batch negatives assume anyway.
    """
    max_gain = max(collection.max_grade(), 1)
    graded = []
    for query_id, doc_id in pairs:
        gain = max(collection.qrels.get(query_id, {}).get(doc_id, 0), 0)
        graded.append(GradedPair(query=collection.queries[query_id], document=collection.corpus[doc_id].full_text,
                                 score=gain / max_gain, query_id=query_id, doc_id=doc_id, grade=gain,
                                 source=source))
    return graded


def group_by_query(pairs: Iterable[GradedPair], positive_threshold: float = 0.5) -> list[MultiPositiveGroup]:
    """Group graded pairs by query: ``score >= positive_threshold`` are positives, the rest negatives.

    Queries with no positive are left out (the multi-positive objectives need one).
    """
    by_query: dict[str, list[GradedPair]] = {}
    for pair in pairs:
        by_query.setdefault(pair.query_id or pair.query, []).append(pair)
    groups = []
    for members in by_query.values():
        positives = tuple(ScoredDocument(p.document, p.score, p.doc_id) for p in members if p.score >= positive_threshold)
        negatives = tuple(ScoredDocument(p.document, p.score, p.doc_id) for p in members if p.score < positive_threshold)
        if positives:
            groups.append(MultiPositiveGroup(members[0].query, positives, negatives, members[0].query_id))
    return groups
