"""TREC formats: qrels (``qid iter docid grade``), runs (``qid Q0 docid rank score tag``), and a
TREC folder (``corpus.trec`` of ``<DOC>`` records, ``topics.tsv``, ``qrels/<split>.txt``)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from bixse.collections.model import Collection, Document, Qrels, Run
from bixse.collections.validation import KnownIds, add_split_qrels, parse_grade
from bixse.errors import InputError
from bixse.io import atomic_write, open_text, read_text


def _split_lines(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    for line_number, line in enumerate(lines, start=1):
        if line.strip():
            yield line_number, line.split()


def _lines(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as handle:
        yield from _split_lines(handle)


def read_trec_qrels(path: str | Path, known: KnownIds | None = None) -> Qrels:
    """Read ``qid iteration docid grade`` lines (whitespace-separated; iteration is ignored)."""
    with open_text(path) as handle:
        return parse_trec_qrels(handle, path, known)


def parse_trec_qrels(lines: Iterable[str], path: str | Path, known: KnownIds | None = None) -> Qrels:
    """Parse TREC qrels lines; ``path`` names the source in error messages."""
    known = known or KnownIds()
    qrels: Qrels = {}
    for line, fields in _split_lines(lines):
        if len(fields) != 4:
            raise InputError(f"expected 4 fields (qid iter docid grade), found {len(fields)}", path=path, line=line)
        query_id, _, doc_id, raw_grade = fields
        grade = parse_grade(raw_grade, path=path, line=line, field="grade")
        if not known.keep(query_id, doc_id, path=path, line=line, query_field="qid", doc_field="docid"):
            continue
        if doc_id in qrels.setdefault(query_id, {}):
            raise InputError(f"duplicate judgement for query '{query_id}', document '{doc_id}'", path=path, line=line, field="docid")
        qrels[query_id][doc_id] = grade
    known.warn_dropped(path)
    return qrels


def write_trec_qrels(path: str | Path, qrels: Qrels) -> Path:
    with atomic_write(path) as handle:
        for query_id, docs in qrels.items():
            for doc_id, grade in docs.items():
                handle.write(f"{query_id} 0 {doc_id} {grade}\n")
    return Path(path)


def read_trec_run(path: str | Path, known: KnownIds | None = None) -> Run:
    """Read ``qid Q0 docid rank score tag`` lines. Scores, not ranks, order the documents."""
    known = known or KnownIds()
    run: Run = {}
    for line, fields in _lines(path):
        if len(fields) != 6:
            raise InputError(f"expected 6 fields (qid Q0 docid rank score tag), found {len(fields)}", path=path, line=line)
        query_id, _, doc_id, raw_rank, raw_score, _ = fields
        try:
            int(raw_rank)
        except ValueError:
            raise InputError(f"rank must be an integer, got {raw_rank!r}", path=path, line=line, field="rank") from None
        try:
            score = float(raw_score)
        except ValueError:
            raise InputError(f"score must be a number, got {raw_score!r}", path=path, line=line, field="score") from None
        if not math.isfinite(score):
            raise InputError(f"score must be finite, got {raw_score!r}", path=path, line=line, field="score")
        if not known.keep(query_id, doc_id, path=path, line=line, query_field="qid", doc_field="docid"):
            continue
        if doc_id in run.setdefault(query_id, {}):
            raise InputError(f"document '{doc_id}' listed twice for query '{query_id}'", path=path, line=line, field="docid")
        run[query_id][doc_id] = score
    known.warn_dropped(path)
    return run


def write_trec_run(path: str | Path, run: Run, tag: str = "bixse") -> Path:
    """Write a run, each query's documents by descending score (ties by doc id), ranks from 1.

    Scores are written in full (the shortest text that reads back as the same float), not the
    customary six decimals: trec_eval orders by score and breaks ties by doc id, so two cosine
    scores that differ past the sixth decimal would swap places in the file and score differently
    from the run in memory.
    """
    if not tag or any(c.isspace() for c in tag):
        raise InputError(f"run tag must be one word, got {tag!r}", field="tag")
    with atomic_write(path) as handle:
        for query_id, docs in run.items():
            ranked = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                handle.write(f"{query_id} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    return Path(path)


_DOC_TAG = re.compile(r"</?DOC>")
_FIELD_PATTERN = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.S) for name in ("DOCNO", "TITLE", "TEXT")}


def _doc_records(content: str, path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line of <DOC>, text up to its </DOC>)`` per record; an unclosed or unopened tag is an error.

    A non-greedy ``<DOC>(.*?)</DOC>`` would read a record missing its ``</DOC>`` and the next
    one as a single document, and lose the second without a word.
    """
    line, counted_to = 1, 0
    opened: re.Match[str] | None = None
    opened_line = 0
    for tag in _DOC_TAG.finditer(content):
        line += content.count("\n", counted_to, tag.start())
        counted_to = tag.start()
        if tag.group() == "<DOC>":
            if opened is not None:
                raise InputError(f"<DOC> has no </DOC> before the next <DOC> (line {line})", path=path,
                                 line=opened_line, field="DOC")
            opened, opened_line = tag, line
        else:
            if opened is None:
                raise InputError("</DOC> without an opening <DOC>", path=path, line=line, field="DOC")
            yield opened_line, content[opened.end():tag.start()]
            opened = None
    if opened is not None:
        raise InputError("<DOC> has no </DOC> before the end of the file", path=path, line=opened_line, field="DOC")


def read_trec_corpus(path: str | Path) -> dict[str, Document]:
    """Read ``<DOC><DOCNO>id</DOCNO><TITLE>..</TITLE><TEXT>..</TEXT></DOC>`` records."""
    content = read_text(path)
    corpus: dict[str, Document] = {}
    for line, record in _doc_records(content, path):
        # TREC disks split long documents (AP, FR) into several <TEXT> blocks: all are the text.
        blocks = {name: [html.unescape(b.strip()) for b in pattern.findall(record)] for name, pattern in _FIELD_PATTERN.items()}
        if len(blocks["DOCNO"]) > 1:
            raise InputError(f"a document with {len(blocks['DOCNO'])} <DOCNO> tags", path=path, line=line, field="DOCNO")
        fields = {name: "\n".join(b for b in found if b) for name, found in blocks.items()}
        doc_id = fields["DOCNO"]
        if not doc_id:
            raise InputError("missing id", path=path, line=line, field="DOCNO")
        if doc_id in corpus:
            raise InputError(f"duplicate document id '{doc_id}'", path=path, line=line, field="DOCNO")
        if not fields["TEXT"] and not fields["TITLE"]:
            raise InputError(f"document '{doc_id}' has an empty text and no title", path=path, line=line, field="TEXT")
        corpus[doc_id] = Document(doc_id=doc_id, text=fields["TEXT"] or fields["TITLE"], title=fields["TITLE"])
    return corpus


def read_topics_tsv(path: str | Path) -> dict[str, str]:
    """Read ``qid<TAB>text`` lines (the MS MARCO / Anserini topics layout)."""
    queries: dict[str, str] = {}
    with open_text(path) as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            fields = raw.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise InputError(f"expected 2 tab-separated fields (qid, text), found {len(fields)}", path=path, line=line)
            query_id, text = fields[0].strip(), fields[1].strip()
            if not query_id:
                raise InputError("empty id", path=path, line=line, field="qid")
            if not text:
                raise InputError("empty text", path=path, line=line, field="text")
            if query_id in queries:
                raise InputError(f"duplicate query id '{query_id}'", path=path, line=line, field="qid")
            queries[query_id] = text
    return queries


def load_trec_folder(folder: str | Path, unknown_ids: Literal["error", "drop"] = "error") -> Collection:
    """Load ``corpus.trec``, ``topics.tsv`` and every ``qrels/<split>.txt`` as a split."""
    folder = Path(folder)
    for required in ("corpus.trec", "topics.tsv"):
        if not (folder / required).is_file():
            raise InputError(f"not a TREC folder: '{required}' is missing", path=folder)
    corpus = read_trec_corpus(folder / "corpus.trec")
    queries = read_topics_tsv(folder / "topics.tsv")
    qrels: Qrels = {}
    splits: dict[str, tuple[str, ...]] = {}
    for qrels_path in sorted((folder / "qrels").glob("*.txt")):
        split_qrels = read_trec_qrels(qrels_path, KnownIds(queries, corpus, unknown_ids))
        add_split_qrels(qrels, split_qrels, path=qrels_path, field="qid")
        splits[qrels_path.stem] = tuple(split_qrels)
    if not splits:
        raise InputError("not a TREC folder: no qrels/<split>.txt file", path=folder)
    return Collection(name=folder.name, corpus=corpus, queries=queries, qrels=qrels, splits=splits)


def write_trec_folder(collection: Collection, folder: str | Path) -> Path:
    """Write ``collection`` as a TREC folder (query texts have their whitespace collapsed)."""
    folder = Path(folder)
    with atomic_write(folder / "corpus.trec") as handle:
        for doc in collection.corpus.values():
            handle.write(
                f"<DOC>\n<DOCNO>{html.escape(doc.doc_id)}</DOCNO>\n<TITLE>{html.escape(doc.title)}</TITLE>\n"
                f"<TEXT>\n{html.escape(doc.text)}\n</TEXT>\n</DOC>\n"
            )
    with atomic_write(folder / "topics.tsv") as handle:
        for query_id, text in collection.queries.items():
            handle.write(f"{query_id}\t{' '.join(text.split())}\n")
    for split in collection.split_names():
        ids = collection.query_ids(split)
        write_trec_qrels(folder / "qrels" / f"{split}.txt", {q: collection.qrels[q] for q in ids if q in collection.qrels})
    return folder
