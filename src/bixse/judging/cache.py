"""The durable label cache: SQLite in WAL mode, one row per (judge, prompt, query, document).

Key: ``judge identity`` + ``prompt version`` + sha256(query text) + sha256(document text).
Keying by content, not ids, means the same pair mined twice, from two collections or two
candidate files, is paid for once, and an edited document is judged afresh.

Durability: every ``put_many`` is one transaction, committed before it returns, with
``synchronous=FULL``; WAL keeps readers (an export, an agreement report) unblocked while a
run writes. A process killed at any point loses at most the batch it had not committed;
rows are never overwritten (``INSERT OR IGNORE``), so two runs racing on one file are safe.

Concurrent runs on one file share the work: before a batch goes to the judge, ``claim`` reads
the labels stored meanwhile and marks the rest as being judged by this handle (``claims``), so
another run skips them for now and comes back to them at its end, by which time they are stored.
A claim is a hint, never a lock: a killed run's claims only move its last batch to the end of
the next run.

Batches are read and written in bulk, for MS MARCO's millions of labels: ``get_many`` and
``claim`` ask SQLite one query per 1,000 keys (a ``VALUES`` list joined to the primary key), and
``put_many`` is one ``executemany`` insert; it also drops, in the same transaction, the claims on
its keys that this handle made or found (another run's, which a killed run leaves behind).

``merge_caches`` joins the caches of one judging run's shards (``bixse judge --shard i/n``)
into one, with no label lost or duplicated, and reports conflicting judgements of a key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import lru_cache
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
CREATE TABLE IF NOT EXISTS claims (
    judge TEXT NOT NULL, prompt_version TEXT NOT NULL, query_sha256 TEXT NOT NULL, doc_sha256 TEXT NOT NULL,
    owner TEXT NOT NULL, PRIMARY KEY (judge, prompt_version, query_sha256, doc_sha256)) WITHOUT ROWID;
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
        self.owner = uuid.uuid4().hex  # whose claims are whose, when several runs share the file
        # Keys claimed (or seen claimed by another run) and not stored yet, by (judge, prompt).
        self._pending: dict[tuple[str, str], set[TextKey]] = {}
        self._claimed_any = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode, stored = self._open()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a bixse label cache ({exc})", path=self.path) from None
        if mode.lower() != "wal":
            self._refuse(f"could not switch the label cache to WAL mode (got {mode})")
        if stored is None:
            self._connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif stored[0] != SCHEMA_VERSION:
            self._refuse(f"label cache schema {stored[0]} is not the supported {SCHEMA_VERSION}")

    def _refuse(self, problem: str) -> None:
        self._connection.close()  # the caller gets no object to close
        raise InputError(problem, path=self.path)

    def _open(self, attempts: int = 50) -> tuple[str, Any]:
        """Connect, switch to WAL and make the schema; (journal mode, stored schema version).

        Two runs opening a new file at once can get "database is locked" from the switch to WAL,
        which SQLite reports at once instead of waiting out the busy timeout: retried here."""
        for attempt in range(attempts):
            # Autocommit mode: transactions are opened explicitly, one per batch.
            self._connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            try:
                mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                self._connection.execute("PRAGMA synchronous=FULL")
                self._connection.executescript(_SCHEMA)
                return mode, self._connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            except sqlite3.OperationalError as exc:
                self._connection.close()
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def __enter__(self) -> LabelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._claimed_any:  # the owner is this handle's own: no claim is its otherwise
                with self._transaction() as connection:
                    connection.execute("DELETE FROM claims WHERE owner=?", (self.owner,))
        except sqlite3.Error:
            pass  # a claim left behind is only a hint: its pairs move to the end of a later run
        finally:
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
        """The cached judgements among ``keys`` for this judge and prompt (one query per chunk of keys)."""
        return self._select(self._connection, "labels", judge, list(keys), _judgements)

    def claim(self, judge: Judge, keys: Sequence[TextKey]) -> tuple[dict[TextKey, Judgement], list[TextKey]]:
        """Just before judging ``keys``: (their labels stored since they were looked up, the keys
        another run has claimed), in one transaction that claims the rest for this handle."""
        keys = list(keys)
        judge_key = (judge.identity, judge.prompt_version)
        self._claimed_any = True
        with self._transaction() as connection:
            stored = self._select(connection, "labels", judge, keys, _judgements)
            rest = [key for key in keys if key not in stored]
            owners = self._select(connection, "claims", judge, rest, _owners)
            taken = [key for key in rest if owners.get(key, self.owner) != self.owner]
            free = [key for key in dict.fromkeys(rest) if key not in owners]  # this handle's stay as they are
            connection.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                                   [(*judge_key, *key, self.owner) for key in free])
        # When ``put_many`` stores these keys, their claims go: this handle's, and the other run's
        # on those it took (that run may have been killed: its claims would stay behind).
        self._pending.setdefault(judge_key, set()).update(rest)
        return stored, taken

    def _select(self, connection: sqlite3.Connection, table: str, judge: Judge, keys: list[TextKey],
                convert: Callable[[list[tuple[Any, ...]]], dict[TextKey, Any]]) -> dict[TextKey, Any]:
        """``convert`` of the rows of ``table`` (labels or claims) among ``keys`` for this judge, read
        by a ``WITH k(q, d) AS (VALUES ...)`` list of up to ``_CHUNK`` keys joined to the primary key."""
        found: dict[TextKey, Any] = {}
        judge_key = (judge.identity, judge.prompt_version)
        # 2 variables a key and 2 for the judge, under SQLite's variable limit (999 before SQLite
        # 3.32, and assumed where Python (< 3.11) cannot ask).
        getlimit = getattr(connection, "getlimit", None)
        limit = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit is not None else 999
        size = max(1, min(_CHUNK, (limit - 2) // 2))
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            parameters = [text for key in chunk for text in key]
            parameters += judge_key
            found.update(convert(connection.execute(_select_sql(table, len(chunk)), parameters).fetchall()))
        return found

    def put_many(self, judge: Judge, items: Sequence[tuple[TextKey, Judgement]]) -> int:
        """Store ``items`` in one committed transaction; return how many rows were new. The claims
        this handle holds on them (see ``claim``) go in the same transaction."""
        if not items:
            return 0
        now = time.time()
        identity, prompt_version = judge_key = (judge.identity, judge.prompt_version)
        rows = [(identity, prompt_version, query_sha, doc_sha, judgement.score,
                 None if judgement.distribution is None else json.dumps(_plain(judgement.distribution)),
                 json.dumps(_plain(judgement.extras)) if judgement.extras else None, now)
                for (query_sha, doc_sha), judgement in items]
        pending = self._pending.get(judge_key)
        released = [row[:4] for row in rows if (row[2], row[3]) in pending] if pending else []
        with self._transaction() as connection:
            before = connection.total_changes
            connection.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            added = connection.total_changes - before
            if released:
                connection.executemany("DELETE FROM claims WHERE judge=? AND prompt_version=? AND query_sha256=? "
                                       "AND doc_sha256=?", released)
        if pending:
            pending.difference_update(row[2:4] for row in released)
        return added

    def count(self, judge: Judge | None = None) -> int:
        if judge is None:
            return int(self._connection.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
        return int(self._connection.execute(
            "SELECT COUNT(*) FROM labels WHERE judge=? AND prompt_version=?",
            (judge.identity, judge.prompt_version)).fetchone()[0])

    def _merge_from(self, path: Path, tolerance: float, examples: list[LabelConflict],
                    max_examples: int) -> MergedInput:
        """Copy another cache's labels and judges in (one transaction); see ``merge_caches``."""
        same_key = ("FROM source.labels s JOIN main.labels m ON m.judge = s.judge AND m.prompt_version = "
                    "s.prompt_version AND m.query_sha256 = s.query_sha256 AND m.doc_sha256 = s.doc_sha256")
        self._connection.execute("ATTACH DATABASE ? AS source", (str(path),))
        try:
            with self._transaction() as connection:
                labels = int(connection.execute("SELECT COUNT(*) FROM source.labels").fetchone()[0])
                overlap = int(connection.execute(f"SELECT COUNT(*) {same_key}").fetchone()[0])
                conflicts = 0
                rows = connection.execute(f"SELECT s.judge, s.prompt_version, s.query_sha256, s.doc_sha256, m.score, "
                                          f"s.score {same_key} WHERE abs(m.score - s.score) > ?", (tolerance,))
                for judge, prompt, query_sha, doc_sha, kept, other in rows:
                    conflicts += 1
                    if len(examples) < max_examples:
                        examples.append(LabelConflict(judge, prompt, query_sha, doc_sha, kept, other, str(path)))
                before = connection.total_changes
                connection.execute("INSERT OR IGNORE INTO main.labels SELECT * FROM source.labels")
                added = connection.total_changes - before
                connection.execute("INSERT OR IGNORE INTO main.judges SELECT * FROM source.judges")
        finally:
            self._connection.execute("DETACH DATABASE source")
        return MergedInput(path=str(path), labels=labels, added=added, duplicates=overlap - conflicts,
                           conflicts=conflicts)

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


_CHUNK = 1000  # keys per lookup query; fewer cost more queries, more a slower plan


@lru_cache(maxsize=8)
def _select_sql(table: str, count: int) -> str:
    columns = "score, distribution, extras" if table == "labels" else "owner"
    return (f"WITH k(q, d) AS (VALUES {','.join(['(?,?)'] * count)}) SELECT t.query_sha256, t.doc_sha256, "
            f"{columns} FROM k CROSS JOIN {table} t ON t.judge=? AND t.prompt_version=? AND t.query_sha256=k.q "
            "AND t.doc_sha256=k.d")


def _owners(rows: list[tuple[Any, ...]]) -> dict[TextKey, str]:
    return {(query_sha, doc_sha): owner for query_sha, doc_sha, owner in rows}


def _judgements(rows: list[tuple[Any, ...]]) -> dict[TextKey, Judgement]:
    """Judgements of (query sha, doc sha, score, distribution, extras) rows."""
    return {(row[0], row[1]): _judgement_from_row(row[2:]) for row in rows}


def _plain(mapping: Any) -> Any:
    return mapping if type(mapping) is dict else dict(mapping)


# (judge identity, prompt version): whose labels a cache holds.
JudgeKey = tuple[str, str]


@dataclass(frozen=True)
class LabelConflict:
    """One key two caches label differently: ``kept_score`` (merged first) stays in the output."""

    judge: str
    prompt_version: str
    query_sha256: str
    doc_sha256: str
    kept_score: float
    other_score: float
    other_path: str


@dataclass(frozen=True)
class MergedInput:
    """What one input brought: ``labels`` rows, of which ``added`` were new to the output,
    ``duplicates`` already there with the same score, ``conflicts`` there with another score."""

    path: str
    labels: int
    added: int
    duplicates: int
    conflicts: int


@dataclass(frozen=True)
class MergeResult:
    output: str
    judges: list[JudgeKey]
    inputs: list[MergedInput]
    labels: int  # rows in the output after the merge
    conflicts: int
    conflict_examples: list[LabelConflict]


def cache_judges(path: str | Path) -> set[JudgeKey]:
    """The (judge identity, prompt version) pairs a cache file registers or holds labels of,
    read without writing to it. ``InputError`` when it is missing or not a bixse label cache."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError("no such label cache", path=path)
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            stored = connection.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if stored is not None and stored[0] != SCHEMA_VERSION:
                raise InputError(f"label cache schema {stored[0]} is not the supported {SCHEMA_VERSION}", path=path)
            rows = connection.execute("SELECT judge, prompt_version FROM judges UNION "
                                      "SELECT DISTINCT judge, prompt_version FROM labels").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a bixse label cache ({exc})", path=path) from None
    return {(judge, prompt) for judge, prompt in rows}


def _describe(judges: set[JudgeKey]) -> str:
    return "; ".join(f"{judge} (prompt {prompt})" for judge, prompt in sorted(judges)) or "no judge at all"


def merge_caches(output: str | Path, inputs: Sequence[str | Path], *, tolerance: float = 1e-6,
                 max_examples: int = 20) -> MergeResult:
    """Merge label caches (the shards of one judging run) into ``output``, which may exist.

    Every input must hold the same judge(s) (identity and prompt version), and so must a
    non-empty ``output``: labels of another judge are an ``InputError``, checked before anything
    is written. Each key ends up once in ``output``; where two caches hold different scores for
    one key (differing by more than ``tolerance``) the first merged is kept and the others are
    counted as conflicts, the first ``max_examples`` of them returned. Merging again is a no-op
    (every label a duplicate). Runs in SQLite, one transaction per input, without loading the
    labels into memory.

    Example::

        merge_caches("labels.sqlite", ["labels.shard1of2.sqlite", "labels.shard2of2.sqlite"]).conflicts
    """
    if not inputs:
        raise InputError("give at least one label cache to merge", field="inputs")
    if tolerance < 0:
        raise InputError(f"tolerance must be >= 0, got {tolerance}", field="tolerance")
    output = Path(output).expanduser()
    paths = [Path(path).expanduser() for path in inputs]
    judges_by_input = [cache_judges(path) for path in paths]
    for index, path in enumerate(paths):
        if output.exists() and os.path.samefile(path, output):
            raise InputError("the output is also an input: merge into a new file or leave it out of the inputs",
                             path=path, field="inputs")
        earlier = next((other for other in paths[:index] if os.path.samefile(other, path)), None)
        if earlier is not None:
            raise InputError(f"passed twice (also as {earlier})", path=path, field="inputs")
    reference = judges_by_input[0]
    if not reference:
        raise InputError("holds no judge's labels: not the cache of a judging run", path=paths[0])
    for path, judges in zip(paths[1:], judges_by_input[1:]):
        if judges != reference:
            raise InputError(f"holds labels of {_describe(judges)}, but {paths[0]} holds {_describe(reference)}: "
                             "merge joins the shards of one judging run (same judge, options and prompt). A model "
                             "folder is fingerprinted by path, size and mtime: on machines with different copies, "
                             "pin one --identity", path=path, field="judge")
    if output.exists():
        existing = cache_judges(output)
        if existing and existing != reference:
            raise InputError(f"holds labels of {_describe(existing)}, not of {_describe(reference)}: "
                             "merge into a new file", path=output, field="judge")
    merged: list[MergedInput] = []
    examples: list[LabelConflict] = []
    with LabelCache(output) as cache:
        for path in paths:
            report = cache._merge_from(path, tolerance, examples, max_examples)
            merged.append(report)
        total = cache.count()
    return MergeResult(output=str(output), judges=sorted(reference), inputs=merged, labels=total,
                       conflicts=sum(m.conflicts for m in merged), conflict_examples=examples)
