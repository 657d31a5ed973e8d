"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` (with header).

The layout of Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of
Information Retrieval Models" (NeurIPS 2021). Splits are the qrels file names; a query's split
is the qrels file that judges it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bixse.collections.model import Collection, Document, Qrels
from bixse.collections.validation import BEIR_QRELS_HEADERS, KnownIds, add_split_qrels, parse_grade, require_text, string_id
from bixse.errors import InputError
from bixse.io import atomic_write, iter_jsonl, open_text, write_jsonl

QRELS_HEADER = "query-id\tcorpus-id\tscore"


def read_corpus_jsonl(path: str | Path) -> dict[str, Document]:
    """Read ``{"_id", "title"?, "text"}`` lines. A document needs a non-empty text or title."""
    corpus: dict[str, Document] = {}
    for line, record in iter_jsonl(path):
        doc_id = string_id(record, "_id", path=path, line=line)
        if doc_id in corpus:
            raise InputError(f"duplicate document id '{doc_id}'", path=path, line=line, field="_id")
        title = record.get("title") or ""
        if not isinstance(title, str):
            raise InputError("expected a string", path=path, line=line, field="title")
        text = record.get("text")
        if not isinstance(text, str) and text is not None:
            raise InputError("expected a string", path=path, line=line, field="text")
        if not (text or "").strip() and not title.strip():
            raise InputError(f"document '{doc_id}' has an empty text and no title", path=path, line=line, field="text")
        corpus[doc_id] = Document(doc_id=doc_id, text=(text or "").strip() or title.strip(), title=title.strip())
    return corpus


def read_queries_jsonl(path: str | Path) -> dict[str, str]:
    """Read ``{"_id", "text"}`` lines into query id -> text."""
    queries: dict[str, str] = {}
    for line, record in iter_jsonl(path):
        query_id = string_id(record, "_id", path=path, line=line)
        if query_id in queries:
            raise InputError(f"duplicate query id '{query_id}'", path=path, line=line, field="_id")
        queries[query_id] = require_text(record, "text", path=path, line=line)
    return queries


def read_qrels_tsv(path: str | Path, known: KnownIds | None = None) -> Qrels:
    """Read a BEIR qrels file: a ``query-id corpus-id score`` header, then tab-separated rows.

    ``known`` checks each row's ids against the collection's queries and corpus.
    """
    known = known or KnownIds()
    qrels: Qrels = {}
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if line_number == 1 and fields[0].strip().lower() in BEIR_QRELS_HEADERS:
                continue
            if len(fields) != 3:
                raise InputError(
                    f"expected 3 tab-separated fields (query-id, corpus-id, score), found {len(fields)}",
                    path=path, line=line_number,
                )
            query_id, doc_id = fields[0].strip(), fields[1].strip()
            if not query_id or not doc_id:
                field = "query-id" if not query_id else "corpus-id"
                raise InputError("empty id", path=path, line=line_number, field=field)
            grade = parse_grade(fields[2], path=path, line=line_number, field="score")
            if not known.keep(query_id, doc_id, path=path, line=line_number, query_field="query-id", doc_field="corpus-id"):
                continue
            if doc_id in qrels.setdefault(query_id, {}):
                raise InputError(
                    f"duplicate judgement for query '{query_id}', document '{doc_id}'",
                    path=path, line=line_number, field="corpus-id",
                )
            qrels[query_id][doc_id] = grade
    known.warn_dropped(path)
    return qrels


def load_beir(folder: str | Path, unknown_ids: Literal["error", "drop"] = "error") -> Collection:
    """Load a BEIR folder. Every ``qrels/*.tsv`` becomes a split named after the file.

    ``unknown_ids``: a qrels row naming a query or document absent from ``queries.jsonl`` or
    ``corpus.jsonl`` is an error (default) or is dropped with a counted warning.
    """
    folder = Path(folder)
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise InputError(f"not a BEIR folder: '{required}' is missing", path=folder)
    corpus = read_corpus_jsonl(folder / "corpus.jsonl")
    queries = read_queries_jsonl(folder / "queries.jsonl")
    qrels_files = sorted((folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
    if not qrels_files:
        raise InputError("not a BEIR folder: no qrels/<split>.tsv file", path=folder)
    qrels: Qrels = {}
    splits: dict[str, tuple[str, ...]] = {}
    for qrels_path in qrels_files:
        split_qrels = read_qrels_tsv(qrels_path, KnownIds(queries, corpus, unknown_ids))
        add_split_qrels(qrels, split_qrels, path=qrels_path, field="query-id")
        splits[qrels_path.stem] = tuple(split_qrels)
    return Collection(name=folder.name, corpus=corpus, queries=queries, qrels=qrels, splits=splits)


def write_beir(collection: Collection, folder: str | Path) -> Path:
    """Write ``collection`` as a BEIR folder; every file is written atomically."""
    folder = Path(folder)
    write_jsonl(
        folder / "corpus.jsonl",
        ({"_id": d.doc_id, "title": d.title, "text": d.text} for d in collection.corpus.values()),
    )
    write_jsonl(folder / "queries.jsonl", ({"_id": q, "text": t} for q, t in collection.queries.items()))
    for split in collection.split_names():
        with atomic_write(folder / "qrels" / f"{split}.tsv") as handle:
            handle.write(QRELS_HEADER + "\n")
            for query_id in collection.query_ids(split):
                for doc_id, grade in collection.qrels.get(query_id, {}).items():
                    handle.write(f"{query_id}\t{doc_id}\t{grade}\n")
    return folder
