"""Field checks shared by the readers, each raising an InputError that locates the problem."""

from __future__ import annotations

import logging
import math
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bixse.errors import InputError

logger = logging.getLogger(__name__)

Where = str | Path
# The first column's name in a BEIR qrels header line (BEIR writes ``query-id``; others exist).
BEIR_QRELS_HEADERS = frozenset({"query-id", "query_id", "qid"})


def add_split_qrels(qrels: dict[str, dict[str, int]], split_qrels: Mapping[str, dict[str, int]], *,
                    path: Where, field: str) -> None:
    """Add one split's judgements to ``qrels``; a query judged in two splits is an error, since
    it would sit in both (train leaking into test) and one split's judgements would replace the other's."""
    for query_id in split_qrels:
        if query_id in qrels:
            raise InputError(f"query '{query_id}' is judged in two splits", path=path, field=field)
    qrels.update(split_qrels)


def string_id(record: Mapping[str, Any], field: str, *, path: Where, line: int) -> str:
    """An id field: a non-empty string, or an integer (BEIR files use both) read as a string."""
    if field not in record:
        raise InputError("missing id", path=path, line=line, field=field)
    value = record[field]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"expected a string or integer id, got {type(value).__name__}", path=path, line=line, field=field)
    value = str(value).strip()
    if not value:
        raise InputError("empty id", path=path, line=line, field=field)
    return value


def require_text(record: Mapping[str, Any], field: str, *, path: Where, line: int) -> str:
    """A required, non-blank string field, stripped."""
    if field not in record:
        raise InputError("missing field", path=path, line=line, field=field)
    value = record[field]
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=field)
    if not value.strip():
        raise InputError("empty text", path=path, line=line, field=field)
    return value.strip()


def parse_grade(raw: Any, *, path: Where, line: int, field: str) -> int:
    """An integer relevance grade from a token ("2") or a JSON number (2, not 2.5 or true)."""
    if isinstance(raw, bool):
        raise InputError(f"grade must be an integer, got {raw!r}", path=path, line=line, field=field)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise InputError(f"grade must be an integer, got {raw!r}", path=path, line=line, field=field)


def parse_probability(raw: Any, *, path: Where, line: int, field: str) -> float:
    """A score read as a probability: a finite number in [0, 1]."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise InputError(f"expected a number in [0, 1], got {raw!r}", path=path, line=line, field=field)
    value = float(raw)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"score must be a probability in [0, 1], got {raw!r}", path=path, line=line, field=field)
    return value


@dataclass
class KnownIds:
    """The queries and documents a qrels or run file may name, checked line by line.

    ``unknown_ids="error"`` rejects a line naming an unknown id; ``"drop"`` skips it and counts
    it, and ``warn_dropped`` logs the count once the file is read. ``None`` means "don't check".
    """

    queries: Container[str] | None = None
    corpus: Container[str] | None = None
    unknown_ids: Literal["error", "drop"] = "error"
    dropped: int = 0

    def keep(self, query_id: str, doc_id: str, *, path: Where, line: int, query_field: str, doc_field: str) -> bool:
        for value, known, field, kind in (
            (query_id, self.queries, query_field, "query"),
            (doc_id, self.corpus, doc_field, "document"),
        ):
            if known is not None and value not in known:
                if self.unknown_ids == "error":
                    raise InputError(f"unknown {kind} '{value}'", path=path, line=line, field=field)
                self.dropped += 1
                return False
        return True

    def warn_dropped(self, path: Where) -> None:
        if self.dropped:
            logger.warning("%s: dropped %d line(s) naming unknown queries or documents", path, self.dropped)
