"""The candidates file: the (query, document) pairs a retriever surfaced, waiting for labels.

JSONL, one pair a line, written by ``bixse mine`` and read by ``bixse judge``::

    {"query_id": "12", "doc_id": "51", "rank": 1, "score": 17.3, "retriever": "bm25"}
    {"query_id": "12", "doc_id": "486", "rank": 2, "score": 15.9, "retriever": "bm25", "query": "...", "document": "..."}

``query_id``, ``doc_id``, ``rank`` (1-based) and ``score`` (the retriever's) are required;
``retriever`` and the texts ``query``/``document`` are optional. Texts given in the file win;
missing ones are looked up by id in the collection passed to the reader.

Reading validates every line before any judging starts, so a bad file costs no model call:
an unknown id, an empty text, a missing field, a repeated (query_id, doc_id) or a truncated
line is an ``InputError`` naming the file, line and field. A truncated LAST line (the file
does not end in a newline and its last line is not valid JSON: an interrupted copy) is an
error too, not a silent skip: a lost tail may be a whole query's candidates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bixse.collections.model import Collection
from bixse.collections.trec import read_trec_run
from bixse.collections.validation import KnownIds, string_id
from bixse.errors import InputError
from bixse.io import iter_jsonl, write_jsonl


@dataclass(frozen=True)
class Candidate:
    """One mined pair: ``rank`` is 1-based within its query, ``score`` is the retriever's."""

    query_id: str
    doc_id: str
    rank: int
    score: float
    retriever: str | None = None
    query: str | None = None
    document: str | None = None

    def to_record(self, with_texts: bool = False) -> dict[str, Any]:
        record: dict[str, Any] = {"query_id": self.query_id, "doc_id": self.doc_id, "rank": self.rank,
                                  "score": self.score}
        if self.retriever is not None:
            record["retriever"] = self.retriever
        if with_texts:
            if self.query is None or self.document is None:
                raise ValueError(f"candidate ({self.query_id}, {self.doc_id}) has no texts to write")
            record["query"], record["document"] = self.query, self.document
        return record

    @property
    def has_texts(self) -> bool:
        return self.query is not None and self.document is not None


def with_texts(candidates: Iterable[Candidate], collection: Collection) -> list[Candidate]:
    """Fill in missing texts from ``collection`` (``Document.full_text`` for documents)."""
    filled = []
    for candidate in candidates:
        query = candidate.query if candidate.query is not None else collection.queries[candidate.query_id]
        document = (candidate.document if candidate.document is not None
                    else collection.corpus[candidate.doc_id].full_text)
        filled.append(replace(candidate, query=query, document=document))
    return filled


def write_candidates(path: str | Path, candidates: Iterable[Candidate], with_texts: bool = False) -> int:
    """Write candidates as JSONL, atomically; return the number written."""
    return write_jsonl(path, (candidate.to_record(with_texts) for candidate in candidates))


def _check_last_line(path: Path) -> None:
    """Name a truncated last line precisely, before the JSON parser reports it vaguely."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        last_line = b""
        position = size
        while position > 0 and b"\n" not in last_line:
            step = min(1 << 16, position)
            position -= step
            handle.seek(position)
            last_line = handle.read(step) + last_line
        last_line = last_line.rsplit(b"\n", 1)[-1]
    try:
        json.loads(last_line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("truncated last line (no final newline and not valid JSON): the file was cut off; "
                         "re-run `bixse mine` or delete this line", path=path, line=newlines + 1) from None


def _optional_text(record: Mapping[str, Any], field: str, path: Path, line: int) -> str | None:
    if field not in record or record[field] is None:
        return None
    value = record[field]
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=field)
    if not value.strip():
        raise InputError("empty text", path=path, line=line, field=field)
    return value


def read_candidates(path: str | Path, collection: Collection | None = None) -> list[Candidate]:
    """Read and validate a candidates file (see the module docstring for the rules).

    With ``collection``, ids are checked against it and missing texts filled from it; without
    one, every line must carry both texts.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("candidates file does not exist", path=path)
    _check_last_line(path)
    candidates: list[Candidate] = []
    seen: dict[tuple[str, str], int] = {}
    for line, record in iter_jsonl(path):
        query_id = string_id(record, "query_id", path=path, line=line)
        doc_id = string_id(record, "doc_id", path=path, line=line)
        if (query_id, doc_id) in seen:
            raise InputError(f"pair ({query_id}, {doc_id}) repeats line {seen[query_id, doc_id]}",
                             path=path, line=line, field="doc_id")
        seen[query_id, doc_id] = line
        rank = record.get("rank")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise InputError(f"rank must be a positive integer, got {rank!r}", path=path, line=line, field="rank")
        score = record.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InputError(f"score must be a finite number, got {score!r}", path=path, line=line, field="score")
        retriever = record.get("retriever")
        if retriever is not None and not isinstance(retriever, str):
            raise InputError("expected a string", path=path, line=line, field="retriever")
        query = _optional_text(record, "query", path, line)
        document = _optional_text(record, "document", path, line)
        if collection is not None:
            if query is None and query_id not in collection.queries:
                raise InputError(f"unknown query '{query_id}' in collection '{collection.name}'",
                                 path=path, line=line, field="query_id")
            if document is None and doc_id not in collection.corpus:
                raise InputError(f"unknown document '{doc_id}' in collection '{collection.name}'",
                                 path=path, line=line, field="doc_id")
        elif query is None or document is None:
            missing, id_field = ("query", "query_id") if query is None else ("document", "doc_id")
            raise InputError(f"no '{missing}' text and no collection to look '{id_field}' up in (pass --collection)",
                             path=path, line=line, field=missing)
        candidates.append(Candidate(query_id, doc_id, rank, float(score), retriever, query, document))
    if not candidates:
        raise InputError("no candidates in file", path=path)
    return with_texts(candidates, collection) if collection is not None else candidates


def read_run_candidates(path: str | Path, collection: Collection, top_k: int = 20) -> list[Candidate]:
    """A TREC run (``qid Q0 docid rank score tag``) as candidates: each query's ``top_k``
    documents by the run's scores (ties by doc id), ranked from 1, texts from ``collection``.

    The run names ids only, so ``collection`` resolves them; an id it lacks is an ``InputError``
    naming the run's line (see ``read_trec_run``). ``retriever`` is ``run:<file name>``.

    Example::

        candidates = read_run_candidates("bm25.trec", load("cranfield"), top_k=20)
    """
    if top_k < 1:
        raise InputError(f"top_k must be positive, got {top_k}", field="top_k")
    path = Path(path)
    if not path.is_file():
        raise InputError("run file does not exist", path=path, field="candidates_run")
    run = read_trec_run(path, KnownIds(collection.queries, collection.corpus))
    if not run:
        raise InputError("no lines in run file", path=path, field="candidates_run")
    candidates = []
    for query_id, docs in run.items():
        ranked = sorted(docs.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        candidates.extend(Candidate(query_id, doc_id, rank, score, f"run:{path.name}")
                          for rank, (doc_id, score) in enumerate(ranked, start=1))
    return with_texts(candidates, collection)
