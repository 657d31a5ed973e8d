"""The label cache at scale: ``LabelCache.put_many`` / ``get_many`` against raw sqlite3 on the same rows.

Data: ``num_labels`` keys of the real shape (sha256 hex of a query and of a document; 10
documents a query, as MS MARCO's 5M labels for 500k queries), labels of an LLM judge's shape (a
4-grade distribution and a ``label_mass`` extra, different per label; ``--payload score``: a
score alone), an LLM-shaped judge identity and prompt version. Everything is generated outside
the timed sections, batch by batch, from seeded generators, so both sides store the same rows.

- bixse: a fresh ``LabelCache``; ``put_many`` in batches of ``batch_size`` (each one committed,
  durable transaction, ``synchronous=FULL``), then ``get_many`` of every key, in a shuffled order,
  in batches of ``batch_size``.
- peer: raw sqlite3 on a file with the same ``labels`` table (WAL, ``synchronous=FULL``), the rows
  already serialised (the JSON texts are made outside the timing): ``BEGIN IMMEDIATE``,
  ``executemany("INSERT OR IGNORE ...")``, ``COMMIT`` per batch; lookups by the fastest raw way
  measured (a ``WITH k(q, d) AS (VALUES ...)`` list joined to the primary key, 1,000 keys a query,
  about twice as fast as one prepared ``SELECT`` per key; a row-value ``IN (VALUES ...)`` scans the
  judge's whole key range), the rows left as tuples.

``insert_slowdown`` / ``lookup_slowdown``: the peer's rate over bixse's (1 = as fast as raw sqlite3).
``bytes_per_label``: the database file (and WAL, if any is left) after closing, over the labels.

Run: ``.venv/bin/python bench/scale_cache.py --labels 1000000 --batch-size 10000 [--repeats 1]
[--payload llm|score]``
(prints the dict as JSON). ``bench/scale.py`` calls ``measure_label_cache(..., side=...)`` for one
side at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bixse.judging.base import Judge, Judgement, Pair, Skipped

DOCS_PER_QUERY = 10
RAW_LOOKUP_CHUNK = 1000
_RAW_TABLE = """CREATE TABLE labels (
    judge TEXT NOT NULL, prompt_version TEXT NOT NULL, query_sha256 TEXT NOT NULL, doc_sha256 TEXT NOT NULL,
    score REAL NOT NULL, distribution TEXT, extras TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (judge, prompt_version, query_sha256, doc_sha256)) WITHOUT ROWID"""


class BenchJudge(Judge):
    """A judge that is never asked: only its identity and prompt version key the labels."""

    kind = "bench"
    family = "llm"
    name = "bench"
    prompt_version = "umbrela-grade/1#5f2c8e0a91d4"

    @property
    def identity(self) -> str:
        return "llm:3f9a1c2b7d4e8f60|mode=grade|max_grade=3|doc_tokens=512|query_tokens=64|precision=bf16"

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        raise NotImplementedError("the benchmark judge only keys labels")


def _sha(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(32)).hexdigest()


def make_keys(num_labels: int, seed: int = 0) -> list[tuple[str, str]]:
    """``num_labels`` distinct (query sha256, document sha256) keys, ``DOCS_PER_QUERY`` a query."""
    rng = random.Random(seed)
    keys: list[tuple[str, str]] = []
    while len(keys) < num_labels:
        query = _sha(rng)
        keys.extend((query, _sha(rng)) for _ in range(min(DOCS_PER_QUERY, num_labels - len(keys))))
    return keys


def make_judgements(count: int, seed: int, payload: str = "llm") -> list[Judgement]:
    """``llm``: LLM-shaped labels, a normalised 4-grade distribution, its expected grade / 3 as
    the score, a label mass; ``score``: a score alone (a teacher's or the dummy judge's shape)."""
    rng = random.Random(seed)
    if payload == "score":
        return [Judgement(rng.random()) for _ in range(count)]
    judgements = []
    for _ in range(count):
        weights = [rng.random() for _ in range(4)]
        total = sum(weights)
        distribution = {str(grade): weight / total for grade, weight in enumerate(weights)}
        score = sum(grade * p for grade, p in enumerate(distribution.values())) / 3
        judgements.append(Judgement(score, distribution=distribution, extras={"label_mass": 0.9 + rng.random() / 10}))
    return judgements


def _raw_rows(judge: Judge, keys: Sequence[tuple[str, str]], judgements: Sequence[Judgement],
              now: float) -> list[tuple]:
    """The rows ``LabelCache.put_many`` writes for these labels (same texts)."""
    return [(judge.identity, judge.prompt_version, query_sha, doc_sha, judgement.score,
             json.dumps(dict(judgement.distribution)) if judgement.distribution is not None else None,
             json.dumps(dict(judgement.extras)) if judgement.extras else None, now)
            for (query_sha, doc_sha), judgement in zip(keys, judgements)]


def _file_bytes(path: Path) -> int:
    return sum(candidate.stat().st_size for candidate in (path, Path(f"{path}-wal")) if candidate.exists())


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _batches(total: int, batch_size: int):
    for number, start in enumerate(range(0, total, batch_size)):
        yield number, start, min(start + batch_size, total)


def _measure_bixse(judge: Judge, keys: list[tuple[str, str]], lookups: list[tuple[str, str]], batch_size: int,
                   path: Path, seed: int, payload: str) -> dict[str, Any]:
    from bixse.judging.cache import LabelCache

    _remove(path)
    insert_s = lookup_s = 0.0
    found = 0
    with LabelCache(path) as cache:
        cache.register(judge)
        for number, start, end in _batches(len(keys), batch_size):
            items = list(zip(keys[start:end], make_judgements(end - start, seed + number, payload)))
            started = time.perf_counter()
            cache.put_many(judge, items)
            insert_s += time.perf_counter() - started
        for _, start, end in _batches(len(lookups), batch_size):
            started = time.perf_counter()
            stored = cache.get_many(judge, lookups[start:end])
            lookup_s += time.perf_counter() - started
            found += len(stored)
        first = cache.get_many(judge, keys[:1])[keys[0]]
    if found != len(keys):
        raise AssertionError(f"bixse found {found} of {len(keys)} labels")
    if first != make_judgements(1, seed, payload)[0]:
        raise AssertionError("bixse read back another label than it stored")
    size = _file_bytes(path)
    _remove(path)
    return _side(len(keys), insert_s, lookup_s, size)


def _raw_lookup_sql(count: int) -> str:
    return ("WITH k(q, d) AS (VALUES " + ",".join(["(?,?)"] * count) + ") SELECT l.query_sha256, l.doc_sha256, "
            "l.score, l.distribution, l.extras FROM k CROSS JOIN labels l ON l.judge=? AND l.prompt_version=? "
            "AND l.query_sha256=k.q AND l.doc_sha256=k.d")


def _measure_raw(judge: Judge, keys: list[tuple[str, str]], lookups: list[tuple[str, str]], batch_size: int,
                 path: Path, seed: int, payload: str) -> dict[str, Any]:
    _remove(path)
    insert_s = lookup_s = 0.0
    found: dict[tuple[str, str], tuple] = {}
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise AssertionError("raw sqlite3 did not switch to WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(_RAW_TABLE)
        insert = "INSERT OR IGNORE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        for number, start, end in _batches(len(keys), batch_size):
            judgements = make_judgements(end - start, seed + number, payload)
            rows = _raw_rows(judge, keys[start:end], judgements, time.time())
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(insert, rows)
            connection.execute("COMMIT")
            insert_s += time.perf_counter() - started
        judge_key = (judge.identity, judge.prompt_version)
        for _, start, end in _batches(len(lookups), batch_size):
            started = time.perf_counter()
            for chunk_start in range(start, end, RAW_LOOKUP_CHUNK):
                chunk = lookups[chunk_start:min(chunk_start + RAW_LOOKUP_CHUNK, end)]
                parameters = [text for key in chunk for text in key]
                parameters += judge_key
                for row in connection.execute(_raw_lookup_sql(len(chunk)), parameters):
                    found[row[0], row[1]] = row
            lookup_s += time.perf_counter() - started
    finally:
        connection.close()
    if len(found) != len(keys):
        raise AssertionError(f"raw sqlite3 found {len(found)} of {len(keys)} labels")
    size = _file_bytes(path)
    _remove(path)
    return _side(len(keys), insert_s, lookup_s, size)


def _side(labels: int, insert_s: float, lookup_s: float, size: int) -> dict[str, Any]:
    return {"insert_s": insert_s, "lookup_s": lookup_s, "seconds": insert_s + lookup_s,
            "insert_per_s": labels / insert_s, "lookup_per_s": labels / lookup_s,
            "bytes_per_label": size / labels, "file_bytes": size}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each rate's best run (the machine may be shared: the fastest run is the least disturbed)."""
    best = dict(runs[0])
    best["insert_s"] = min(run["insert_s"] for run in runs)
    best["lookup_s"] = min(run["lookup_s"] for run in runs)
    best["seconds"] = best["insert_s"] + best["lookup_s"]
    best["insert_per_s"] = max(run["insert_per_s"] for run in runs)
    best["lookup_per_s"] = max(run["lookup_per_s"] for run in runs)
    if len(runs) > 1:
        best["runs"] = [{k: run[k] for k in ("insert_per_s", "lookup_per_s")} for run in runs]
    return best


def measure_label_cache(num_labels: int, batch_size: int, path_dir: str | Path, *, side: str | None = None,
                        repeats: int = 1, payload: str = "llm", seed: int = 0) -> dict[str, Any]:
    """Insert and lookup rates of ``LabelCache`` and of raw sqlite3 on ``num_labels`` labels.

    ``side``: ``"bixse"`` or ``"peer"`` measures that side only (its rates, seconds and bytes per
    label); ``None`` both, taking turns ``repeats`` times (best rate of each kept), plus
    ``insert_slowdown`` and ``lookup_slowdown`` (peer rate / bixse rate). Files go to ``path_dir``
    and are removed after measuring. ``payload``: the labels' shape, ``llm`` or ``score`` (see
    ``make_judgements``).
    """
    if num_labels < 1 or batch_size < 1 or repeats < 1:
        raise ValueError("num_labels, batch_size and repeats must be positive")
    if side not in (None, "bixse", "peer"):
        raise ValueError(f"side is 'bixse', 'peer' or None, got {side!r}")
    if payload not in ("llm", "score"):
        raise ValueError(f"payload is 'llm' or 'score', got {payload!r}")
    folder = Path(path_dir)
    folder.mkdir(parents=True, exist_ok=True)
    judge = BenchJudge()
    keys = make_keys(num_labels, seed)
    lookups = keys[:]
    random.Random(seed + 1).shuffle(lookups)
    measures = {"bixse": _measure_bixse, "peer": _measure_raw}
    sides = [side] if side else ["bixse", "peer"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name in sides:
            runs[name].append(measures[name](judge, keys, lookups, batch_size, folder / f"{name}.sqlite", seed,
                                             payload))
    shape = {"labels": num_labels, "batch_size": batch_size, "repeats": repeats, "payload": payload,
             "sqlite": sqlite3.sqlite_version, "python": platform.python_version()}
    if side:
        return {**shape, **_best(runs[side])}
    ours, peer = _best(runs["bixse"]), _best(runs["peer"])
    return {**shape, "bixse": ours, "peer": peer,
            "insert_slowdown": peer["insert_per_s"] / ours["insert_per_s"],
            "lookup_slowdown": peer["lookup_per_s"] / ours["lookup_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--side", choices=("bixse", "peer"), default=None)
    parser.add_argument("--payload", choices=("llm", "score"), default="llm")
    parser.add_argument("--dir", default=None, help="where the files go (default: a temporary folder)")
    args = parser.parse_args()
    options = {"side": args.side, "repeats": args.repeats, "payload": args.payload}
    if args.dir:
        result = measure_label_cache(args.labels, args.batch_size, args.dir, **options)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            result = measure_label_cache(args.labels, args.batch_size, scratch, **options)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
