"""The durable label cache: SQLite in WAL mode, one row per (judge, prompt, query, document).

Key: ``judge identity`` + ``prompt version`` + sha256(query text) + sha256(document text).
Keying by content, not ids, means the same pair mined twice, from two collections or two
candidate files, is paid for once, and an edited document is judged afresh.

Durability: every ``put_many`` is one transaction, committed before it returns, with
``synchronous=FULL``; WAL keeps readers (an export, an agreement report) unblocked while a
run writes. A process killed at any point loses at most the batch it had not committed;
rows are never overwritten (``INSERT OR IGNORE``), so two runs racing on one file are safe.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bixse.errors import InputError
from bixse.judging.base import Judge, Judgement

SCHEMA_VERSION = "1"

# (query sha256, document sha256)
TextKey = tuple[str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS judges (
    judge TEXT NOT NULL, prompt_version TEXT NOT NULL, description TEXT NOT NULL,
    PRIMARY KEY (judge, prompt_version));
CREATE TABLE IF NOT EXISTS labels (
    judge TEXT NOT NULL, prompt_version TEXT NOT NULL, query_sha256 TEXT NOT NULL, doc_sha256 TEXT NOT NULL,
    score REAL NOT NULL, distribution TEXT, extras TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (judge, prompt_version, query_sha256, doc_sha256)) WITHOUT ROWID;
"""


class LabelCache:
    """A label store on disk. Use as a context manager, or call ``close()``.

    Example::

        with LabelCache("labels.sqlite") as cache:
            cache.put_many(judge, [(("q-sha", "d-sha"), Judgement(0.7))])
            cache.get_many(judge, [("q-sha", "d-sha")])
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: transactions are opened explicitly, one per batch.
            self._connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.executescript(_SCHEMA)
            stored = self._connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a bixse label cache ({exc})", path=self.path) from None
        if mode.lower() != "wal":
            raise InputError(f"could not switch the label cache to WAL mode (got {mode})", path=self.path)
        if stored is None:
            self._connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif stored[0] != SCHEMA_VERSION:
            raise InputError(f"label cache schema {stored[0]} is not the supported {SCHEMA_VERSION}", path=self.path)

    def __enter__(self) -> LabelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def register(self, judge: Judge) -> None:
        """Record the judge's provenance (kind, source, identity) beside its labels."""
        with self._transaction() as connection:
            connection.execute("INSERT OR IGNORE INTO judges VALUES (?, ?, ?)",
                               (judge.identity, judge.prompt_version, json.dumps(judge.describe())))

    def get_many(self, judge: Judge, keys: Iterable[TextKey]) -> dict[TextKey, Judgement]:
        """The cached judgements among ``keys`` for this judge and prompt."""
        found = {}
        query = ("SELECT score, distribution, extras FROM labels WHERE judge=? AND prompt_version=? "
                 "AND query_sha256=? AND doc_sha256=?")
        for key in keys:
            row = self._connection.execute(query, (judge.identity, judge.prompt_version, *key)).fetchone()
            if row is not None:
                found[key] = _judgement_from_row(row)
        return found

    def put_many(self, judge: Judge, items: Sequence[tuple[TextKey, Judgement]]) -> int:
        """Store ``items`` in one committed transaction; return how many rows were new."""
        if not items:
            return 0
        now = time.time()
        rows = [(judge.identity, judge.prompt_version, query_sha, doc_sha, judgement.score,
                 json.dumps(dict(judgement.distribution)) if judgement.distribution is not None else None,
                 json.dumps(dict(judgement.extras)) if judgement.extras else None, now)
                for (query_sha, doc_sha), judgement in items]
        with self._transaction() as connection:
            before = connection.total_changes
            connection.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return connection.total_changes - before

    def count(self, judge: Judge | None = None) -> int:
        if judge is None:
            return int(self._connection.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
        return int(self._connection.execute(
            "SELECT COUNT(*) FROM labels WHERE judge=? AND prompt_version=?",
            (judge.identity, judge.prompt_version)).fetchone()[0])

    def summary(self) -> list[dict[str, Any]]:
        """One entry per (judge, prompt) in the cache: its provenance and label count."""
        rows = self._connection.execute(
            "SELECT l.judge, l.prompt_version, COUNT(*), j.description FROM labels l LEFT JOIN judges j "
            "ON j.judge = l.judge AND j.prompt_version = l.prompt_version GROUP BY l.judge, l.prompt_version"
        ).fetchall()
        return [{"identity": judge, "prompt_version": prompt, "labels": count,
                 "description": json.loads(description) if description else None}
                for judge, prompt, count, description in rows]


def _judgement_from_row(row: tuple[float, str | None, str | None]) -> Judgement:
    score, distribution, extras = row
    return Judgement(score=score, distribution=json.loads(distribution) if distribution else None,
                     extras=json.loads(extras) if extras else {})
