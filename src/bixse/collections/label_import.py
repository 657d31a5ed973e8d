"""Training labels from any judge's qrels: an LLM label set, UMBRELA output, a TREC assessment.

A qrels file states grades on the judge's own scale; ``max_grade`` states its top, and each
judgement becomes a graded pair with ``score = grade / max_grade`` (the BiXSE target), its ids
resolved against a collection. Two layouts are read, told apart by the first non-empty line:

- TREC qrels, whitespace-separated: ``qid iter docid grade`` (4 fields; ``iter`` is ignored);
- BEIR qrels TSV: ``query-id<TAB>corpus-id<TAB>score`` (3 fields; a header line, ``query-id``,
  ``query_id`` or ``qid`` first, is optional).

Usage::

    from bixse.collections import load, read_qrels_labels
    from bixse.collections.training_data import write_training_file

    labels = read_qrels_labels("llm-labels/Olz__gpt4o.tsv", load("path/to/llmjudge-dl23"), max_grade=3)
    labels.grade_counts        # {grade: number of pairs}
    write_training_file("gpt4o.jsonl", labels.pairs)

The way back, ``write_labels_as_qrels``, writes graded pairs as TREC qrels with
``grade = round(score * max_grade)`` (half up), so that trec_eval, ir_measures or another
toolkit can read a judge's labels; importing that file with the same ``max_grade`` gives the
pairs back (scores that were ``grade / max_grade`` exactly).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bixse.collections.model import Collection, Qrels
from bixse.collections.training_data import GradedPair
from bixse.collections.trec import write_trec_qrels
from bixse.collections.validation import BEIR_QRELS_HEADERS, parse_grade
from bixse.errors import InputError
from bixse.io import open_text

logger = logging.getLogger(__name__)

QrelsFormat = Literal["trec", "beir"]
# The field names each layout's errors use, in the order of the (query, document, grade) columns.
FIELD_NAMES: dict[QrelsFormat, tuple[str, str, str]] = {
    "trec": ("qid", "docid", "grade"),
    "beir": ("query-id", "corpus-id", "score"),
}


@dataclass(frozen=True)
class ImportedLabels:
    """The graded pairs of one qrels file and what reading it found.

    ``grade_counts`` counts the kept pairs per grade (sorted by grade); ``dropped_unknown`` the
    lines skipped for naming a query or document the collection lacks (``unknown_ids="drop"``).
    """

    pairs: list[GradedPair]
    dropped_unknown: int
    grade_counts: dict[int, int]
    num_queries: int
    path: str


def read_qrels_labels(
    path: str | Path,
    collection: Collection,
    max_grade: int,
    *,
    unknown_ids: Literal["error", "drop"] = "error",
    source: str | None = None,
) -> ImportedLabels:
    """Read a TREC or BEIR qrels file into graded pairs against ``collection``.

    Args:
        path: the qrels file (TREC ``qid iter docid grade`` or BEIR ``query-id corpus-id score``).
        collection: resolves query ids to query texts and document ids to ``Document.full_text``.
        max_grade: the top grade of the judge's scale (3 for TREC DL and UMBRELA's 0-3, 1 for
            binary qrels); ``score = grade / max_grade``. A grade above ``max_grade`` is an error; a
            negative one (TREC Web's -2 spam, -1 junk) is judged not relevant: score 0, as
            trec_eval reads it and as ``qrels_to_graded_pairs`` does.
        unknown_ids: a line naming a query or document absent from ``collection`` is an error
            (``"error"``) or is skipped and counted (``"drop"``, with a logged warning).
        source: recorded on every pair; default ``qrels:<file stem>``.

    Raises:
        InputError: naming the file, line and field of the first bad line; also for a
            ``max_grade`` below 1, a file with no judgements, or one whose every line was dropped.
    """
    if max_grade < 1:
        raise InputError(f"the top grade must be at least 1, got {max_grade} (score = grade / max_grade)",
                         field="max_grade")
    if unknown_ids not in ("error", "drop"):
        raise InputError(f"expected 'error' or 'drop', got {unknown_ids!r}", field="unknown_ids")
    path = Path(path)
    if not path.is_file():
        raise InputError("no such qrels file", path=path)
    source = source or f"qrels:{path.stem}"
    pairs: list[GradedPair] = []
    first_line_of: dict[tuple[str, str], int] = {}
    dropped = 0
    fmt: QrelsFormat | None = None
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if fmt is None:
                fmt = _detect_format(line, path=path, line=line_number)
                if fmt == "beir" and line.split()[0].lower() in BEIR_QRELS_HEADERS:
                    continue
            query_id, doc_id, grade = _parse_line(line, fmt, max_grade, path=path, line=line_number)
            query_field, doc_field, _ = FIELD_NAMES[fmt]
            unknown = _unknown_id(collection, query_id, doc_id, query_field, doc_field)
            if unknown is not None:
                if unknown_ids == "drop":
                    dropped += 1
                    continue
                field, message = unknown
                raise InputError(f"{message} (pass --drop-unknown, or unknown_ids='drop', to skip such lines)",
                                 path=path, line=line_number, field=field)
            earlier = first_line_of.setdefault((query_id, doc_id), line_number)
            if earlier != line_number:
                raise InputError(f"duplicate judgement for query '{query_id}', document '{doc_id}' "
                                 f"(first judged on line {earlier})", path=path, line=line_number, field=doc_field)
            pairs.append(GradedPair(
                query=collection.queries[query_id], document=collection.corpus[doc_id].full_text,
                score=max(grade, 0) / max_grade, query_id=query_id, doc_id=doc_id, grade=grade, source=source,
            ))
    if dropped:
        logger.warning("%s: dropped %d line(s) naming queries or documents not in collection '%s'",
                       path, dropped, collection.name)
    if not pairs:
        if dropped:
            raise InputError(f"all {dropped} judgement(s) name queries or documents not in collection "
                             f"'{collection.name}': is it the collection these labels were made for?", path=path)
        raise InputError("no judgements in file", path=path)
    return ImportedLabels(
        pairs=pairs,
        dropped_unknown=dropped,
        grade_counts=dict(sorted(Counter(pair.grade for pair in pairs).items())),
        num_queries=len({pair.query_id for pair in pairs}),
        path=str(path),
    )


@dataclass(frozen=True)
class ExportedQrels:
    """What ``write_labels_as_qrels`` wrote: ``grade_counts`` per grade (sorted), ``num_queries``."""

    written: int
    grade_counts: dict[int, int]
    num_queries: int
    path: str


def write_labels_as_qrels(path: str | Path, pairs: Sequence[GradedPair], max_grade: int) -> ExportedQrels:
    """Write graded pairs as TREC qrels (``qid 0 docid grade``), ``grade = round(score * max_grade)``
    rounded half up, atomically.

    Every pair needs its ``query_id`` and ``doc_id`` (qrels name both by id), and a pair may
    appear once: an ``InputError`` names the first (1-based) pair that breaks either rule.

    Example::

        pairs = read_graded_pairs("labels.jsonl", load("cranfield"))
        write_labels_as_qrels("qrels.txt", pairs, max_grade=3)
    """
    if max_grade < 1:
        raise InputError(f"the top grade must be at least 1, got {max_grade}", field="max_grade")
    qrels: Qrels = {}
    for number, pair in enumerate(pairs, start=1):
        for field, value in (("query_id", pair.query_id), ("doc_id", pair.doc_id)):
            if value is None:
                raise InputError(f"pair {number} has no {field}: qrels name queries and documents by id (give the "
                                 "labels' ids, or export labels made from a collection)", field=field)
        docs = qrels.setdefault(pair.query_id, {})  # type: ignore[arg-type]
        if pair.doc_id in docs:
            raise InputError(f"pair {number} repeats query '{pair.query_id}', document '{pair.doc_id}': qrels hold "
                             "one grade per pair", field="doc_id")
        docs[pair.doc_id] = math.floor(pair.score * max_grade + 0.5)  # type: ignore[index]
    if not qrels:
        raise InputError("no labels to export", field="labels")
    write_trec_qrels(path, qrels)
    grades = Counter(grade for docs in qrels.values() for grade in docs.values())
    return ExportedQrels(sum(grades.values()), dict(sorted(grades.items())), len(qrels), str(path))


def _detect_format(text: str, *, path: Path, line: int) -> QrelsFormat:
    # Tabs first: a BEIR id with a space in it must not read as a fourth TREC field.
    if len(text.rstrip("\r\n").split("\t")) == 3:
        return "beir"
    fields = text.split()
    if len(fields) == 3:  # a header too ("query-id corpus-id score"): a TREC header has 4 fields
        return "beir"
    if len(fields) == 4:
        return "trec"
    raise InputError(f"expected TREC qrels (4 fields: qid iter docid grade) or BEIR qrels (3 tab-separated "
                     f"fields: query-id corpus-id score), found {len(fields)} fields", path=path, line=line)


def _parse_line(text: str, fmt: QrelsFormat, max_grade: int, *, path: Path, line: int) -> tuple[str, str, int]:
    query_field, doc_field, grade_field = FIELD_NAMES[fmt]
    if fmt == "trec":
        fields = text.split()
        if len(fields) != 4:
            raise InputError(f"expected 4 fields (qid iter docid grade), found {len(fields)}", path=path, line=line)
        query_id, _, doc_id, raw_grade = fields
    else:
        fields = [field.strip() for field in text.rstrip("\r\n").split("\t")]
        if len(fields) != 3:
            raise InputError(f"expected 3 tab-separated fields (query-id, corpus-id, score), found {len(fields)}",
                             path=path, line=line)
        query_id, doc_id, raw_grade = fields
        if not query_id or not doc_id:
            raise InputError("empty id", path=path, line=line, field=query_field if not query_id else doc_field)
    grade = parse_grade(raw_grade, path=path, line=line, field=grade_field)
    if grade > max_grade:
        raise InputError(f"grade {grade} is above the top grade {max_grade}; pass a larger --max-grade "
                         "(the top of this judge's scale)", path=path, line=line, field=grade_field)
    return query_id, doc_id, grade


def _unknown_id(collection: Collection, query_id: str, doc_id: str, query_field: str,
                doc_field: str) -> tuple[str, str] | None:
    """``(field, message)`` for the first id of the line the collection lacks, else None."""
    if query_id not in collection.queries:
        return query_field, f"unknown query '{query_id}' in collection '{collection.name}'"
    if doc_id not in collection.corpus:
        return doc_field, f"unknown document '{doc_id}' in collection '{collection.name}'"
    return None
