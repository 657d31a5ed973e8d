"""The SMART format of the classic test collections (Cranfield, CACM, MED, ...).

Records start with ``.I <id>``; fields start with ``.T`` (title), ``.A`` (authors),
``.B`` (bibliography), ``.W`` (text) and run to the next dot-line. Whitespace inside a field
is collapsed to single spaces.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from bixse.collections.model import Document
from bixse.errors import InputError
from bixse.io import read_text

logger = logging.getLogger(__name__)


def iter_smart_records(lines: list[str], source: str) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Yield ``(line_number, record_id, {field_letter: text})`` for each ``.I`` record."""
    record_id: str | None = None
    record_line = 0
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line_number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if line.startswith(".I"):
            if record_id is not None:
                yield record_line, record_id, {k: " ".join(" ".join(v).split()) for k, v in fields.items()}
            parts = line.split()
            if len(parts) != 2:
                raise InputError("expected '.I <id>'", path=source, line=line_number, field=".I")
            record_id, record_line, fields, current = parts[1], line_number, {}, None
        elif len(line) == 2 and line.startswith(".") and line[1].isalpha():
            if record_id is None:
                raise InputError(f"field {line} before the first .I", path=source, line=line_number, field=line)
            current = line[1]
            fields.setdefault(current, [])
        elif current is not None:
            fields[current].append(line)
        elif line.strip():
            raise InputError("text outside any field", path=source, line=line_number)
    if record_id is not None:
        yield record_line, record_id, {k: " ".join(" ".join(v).split()) for k, v in fields.items()}


def read_smart_documents(lines: list[str], source: str) -> tuple[dict[str, Document], list[str]]:
    """Read documents; return them and the ids of records skipped for having no text and no title."""
    corpus: dict[str, Document] = {}
    empty: list[str] = []
    for line, doc_id, fields in iter_smart_records(lines, source):
        if doc_id in corpus:
            raise InputError(f"duplicate document id '{doc_id}'", path=source, line=line, field=".I")
        title, text = fields.get("T", ""), fields.get("W", "")
        if not text and not title:
            empty.append(doc_id)
            continue
        corpus[doc_id] = Document(doc_id=doc_id, text=text or title, title=title)
    if empty:
        logger.info("%s: skipped %d empty record(s): %s", source, len(empty), ", ".join(empty))
    return corpus, empty


def read_smart_queries(lines: list[str], source: str, number_in_file_order: bool = False) -> dict[str, str]:
    """Read queries from ``.W`` fields.

    ``number_in_file_order`` ignores the ``.I`` numbers and numbers queries 1..n in file order,
    as Cranfield's qrels do (its ``.I`` numbers have gaps the qrels don't).
    """
    queries: dict[str, str] = {}
    for position, (line, record_id, fields) in enumerate(iter_smart_records(lines, source), start=1):
        query_id = str(position) if number_in_file_order else str(int(record_id)) if record_id.isdigit() else record_id
        if query_id in queries:
            raise InputError(f"duplicate query id '{query_id}'", path=source, line=line, field=".I")
        text = fields.get("W", "")
        if not text:
            raise InputError(f"query '{record_id}' has no text", path=source, line=line, field=".W")
        queries[query_id] = text
    return queries


def read_smart_file(path: str | Path) -> list[str]:
    return read_text(path).splitlines()
