"""The label cache in large batches: a SIGKILL inside ``put_many`` loses that batch and nothing
else, lookups and claims of more keys than SQLite takes variables in one statement, and claims
released by the batch that stores their keys."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from bixse.judging import DummyJudge, LabelCache, label_pairs
from bixse.judging.base import Judgement
from bixse.judging.identity import text_sha256

BATCH = 5000

# Stores batches of BATCH labels (key i: sha256 of "query i" and "document i", score i / 1e6),
# printing "committed <n>" after each put_many. With HANG_IN set, the batch after that many
# committed ones hangs inside put_many at the COMMIT that would store it, all its rows inserted
# (and spilled to the WAL, the page cache being kept small), after printing "inside".
CHILD = textwrap.dedent("""
    import os, sys, time
    from bixse.judging import DummyJudge, LabelCache
    from bixse.judging.base import Judgement
    from bixse.judging.identity import text_sha256

    batch, hang_in = int(sys.argv[2]), int(os.environ.get("HANG_IN", "-1"))

    class Hanging:
        def __init__(self, connection):
            self.connection, self.committed, self.inserted = connection, 0, 0
        def __getattr__(self, name):
            return getattr(self.connection, name)
        def executemany(self, sql, rows):
            rows = list(rows)
            if "INTO labels" in sql:
                self.inserted += len(rows)
            return self.connection.executemany(sql, rows)
        def execute(self, sql, *parameters):
            # Hang at the COMMIT that would store the whole batch.
            if sql == "COMMIT" and self.committed == hang_in and self.inserted == batch:
                print("inside", flush=True)
                time.sleep(120)
            return self.connection.execute(sql, *parameters)

    judge = DummyJudge()
    cache = LabelCache(sys.argv[1])
    cache._connection.execute("PRAGMA cache_size=50")  # spill the open batch's pages to the WAL
    hook = cache._connection = Hanging(cache._connection)
    for number in range(1000):
        keys = range(number * batch, (number + 1) * batch)
        cache.put_many(judge, [((text_sha256(f"query {i}"), text_sha256(f"document {i}")),
                                Judgement(i / 1e6, distribution={"0": 0.25, "1": 0.75}, extras={"i": i}))
                               for i in keys])
        hook.committed, hook.inserted = hook.committed + 1, 0
        print(f"committed {number + 1}", flush=True)
""")


def key(i: int) -> tuple[str, str]:
    return text_sha256(f"query {i}"), text_sha256(f"document {i}")


def start_child(path: Path, hang_in: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "HANG_IN": str(-1 if hang_in is None else hang_in)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(BATCH)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def read_until(process: subprocess.Popen, wanted: str, deadline_s: float = 120.0) -> int:
    """Read the child's lines up to ``wanted``; the number of batches it reported committed."""
    committed, end = 0, time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = process.stdout.readline().strip()
        if not line:
            process.kill()
            raise AssertionError(f"child ended early: {process.stderr.read()}")
        if line.startswith("committed "):
            committed = int(line.split()[1])
        if line == wanted:
            return committed
    process.kill()
    raise AssertionError(f"child never printed {wanted!r}")


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def check_reopened(path: Path, committed: int) -> int:
    """The file opens as a cache, passes integrity_check, and holds whole batches only, at least
    the ``committed`` ones; the stored labels are the ones written. Returns the batches there."""
    judge = DummyJudge()
    with LabelCache(path) as cache:
        assert cache._connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = cache.count(judge)
        assert stored % BATCH == 0 and stored >= committed * BATCH, (stored, committed)
        batches = stored // BATCH
        present = cache.get_many(judge, [key(i) for i in range((batches + 1) * BATCH)])
        assert sorted(present) == sorted(key(i) for i in range(batches * BATCH)), "whole batches, in order"
        for i in (0, batches * BATCH - 1):
            assert present[key(i)] == Judgement(i / 1e6, distribution={"0": 0.25, "1": 0.75}, extras={"i": i})
        # Still a working cache: the lost batch can be stored now.
        lost = [(key(i), Judgement(0.5)) for i in range(batches * BATCH, (batches + 1) * BATCH)]
        assert cache.put_many(judge, lost) == BATCH
    return batches


def test_sigkill_inside_put_many_loses_only_that_batch(tmp_path) -> None:
    path = tmp_path / "labels.sqlite"
    process = start_child(path, hang_in=3)
    try:
        committed = read_until(process, "inside")
        assert committed == 3
        # The fourth batch is inserted, not committed: a reader (WAL: not blocked) sees the three others.
        with closing(sqlite3.connect(path, timeout=5)) as reader:
            assert reader.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 3 * BATCH
        kill(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert check_reopened(path, committed) == committed


def test_sigkill_at_any_moment_keeps_whole_batches(tmp_path) -> None:
    path = tmp_path / "labels.sqlite"
    process = start_child(path)
    try:
        committed = read_until(process, "committed 2")
        time.sleep(0.05)  # most of the child's time is spent inside put_many
        kill(process)
        committed = max(committed, *(int(line.split()[1]) for line in process.stdout.read().split("\n")
                                     if line.startswith("committed ")), 0)
    finally:
        if process.poll() is None:
            process.kill()
    assert check_reopened(path, committed) >= committed


def test_get_many_of_more_keys_than_sqlite_variables(tmp_path) -> None:
    judge = DummyJudge()
    keys = [key(i) for i in range(40_000)]  # 80,000 variables in one statement: over the usual limit of 32,766
    present = {k: Judgement(i / 40_000, extras={"n": i}) for i, k in enumerate(keys) if i % 2 == 0}
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        assert cache.put_many(judge, list(present.items())) == 20_000
        assert cache.get_many(judge, keys) == present
        assert cache.get_many(judge, iter(keys[1::2])) == {}
        assert cache.get_many(DummyJudge(seed=1), keys) == {}, "another judge's labels are not these"
        if hasattr(cache._connection, "setlimit"):  # Python 3.11+: an SQLite built with the old limit of 999
            cache._connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
            assert cache.get_many(judge, keys) == present
            stored, taken = cache.claim(judge, keys)
            assert stored == present and taken == []


def test_claims_and_batches(tmp_path) -> None:
    judge = DummyJudge()
    path = tmp_path / "labels.sqlite"
    keys = [key(i) for i in range(6000)]
    labels = {k: Judgement(i / 6000) for i, k in enumerate(keys)}

    def claims() -> list[tuple[str, str, str]]:
        with closing(sqlite3.connect(path)) as connection:
            return connection.execute("SELECT query_sha256, doc_sha256, owner FROM claims").fetchall()

    with LabelCache(path) as first, LabelCache(path) as second:
        assert first.claim(judge, keys[:3000]) == ({}, [])
        stored, taken = second.claim(judge, list(reversed(keys)))
        assert stored == {} and taken == list(reversed(keys[:3000])), "the other run's keys, in the order asked"
        assert {owner for *_, owner in claims()} == {first.owner, second.owner} and len(claims()) == 6000
        # Stored, the first run's keys lose their claims in the same transaction.
        assert first.put_many(judge, [(k, labels[k]) for k in keys[:3000]]) == 3000
        assert sorted(claims()) == sorted((*k, second.owner) for k in keys[3000:])
        # A claimed key that is stored is reported as stored, never as taken.
        stored, taken = second.claim(judge, keys[:3000] + keys[:10])
        assert stored == {k: labels[k] for k in keys[:3000]} and taken == []
        third = LabelCache(path)
        stored, taken = third.claim(judge, keys)
        assert len(stored) == 3000 and taken == keys[3000:]
        # The second run is killed: its claims stay behind, hints only.
        second._connection.close()
        assert len(claims()) == 3000
        # The third run comes back to the keys it found taken, judges and stores them: their
        # (dead) owner's claims go with them.
        assert third.get_many(judge, keys[3000:]) == {}
        assert third.put_many(judge, [(k, labels[k]) for k in keys[3000:4500]]) == 1500
        assert sorted(claims()) == sorted((*k, second.owner) for k in keys[4500:])
        assert third.put_many(judge, [(k, labels[k]) for k in keys[4500:]]) == 1500
        assert claims() == []
        third.close()
        assert first.get_many(judge, keys) == labels
    assert claims() == []


def test_a_skipped_key_stays_claimed_until_close(tmp_path) -> None:
    judge = DummyJudge()
    path = tmp_path / "labels.sqlite"
    with LabelCache(path) as cache, LabelCache(path) as other:
        cache.claim(judge, [key(0), key(1)])
        cache.put_many(judge, [(key(0), Judgement(0.5))])  # key 1: skipped by the judge, not stored
        assert other.claim(judge, [key(0), key(1)]) == ({key(0): Judgement(0.5)}, [key(1)])
        cache.close()
        assert other.claim(judge, [key(1)]) == ({}, [])


def test_runner_batches_larger_than_a_lookup_chunk(tmp_path) -> None:
    pairs = [(f"query {i % 300}", f"document {i}") for i in range(5000)]
    judge = DummyJudge()
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        first = label_pairs(judge, pairs, cache, batch_size=2500)
        assert (first.stats.judged, first.stats.batches) == (5000, 2)
        again = label_pairs(DummyJudge(), pairs, cache, batch_size=2500)
        assert again.stats.cached == 5000 and again.stats.judged == 0
        assert again.scores == first.scores == [judge.score(q, d) for q, d in pairs]
        assert cache._connection.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


@pytest.mark.parametrize("distribution, extras", [(None, None), ("", ""), ("null", "null"), ("{}", "{}"),
                                                   ('{"0": 1.0}', '{"n": 2}'), ("[1, 2]", "3")])
def test_stored_texts_read_as_before(tmp_path, distribution, extras) -> None:
    """Rows read in bulk come out as they did row by row, whatever text another writer left."""
    from bixse.judging.cache import _judgement_from_row

    judge = DummyJudge()
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        cache._connection.execute("INSERT INTO labels VALUES (?, ?, 'q', 'd', 0.25, ?, ?, 0)",
                                  (judge.identity, judge.prompt_version, distribution, extras))
        cache.put_many(judge, [(("q2", "d2"), Judgement(0.75, distribution={"1": 1.0}))])
        found = cache.get_many(judge, [("q", "d"), ("q2", "d2")])
    assert found[("q", "d")] == _judgement_from_row((0.25, distribution, extras))
    assert found[("q2", "d2")] == Judgement(0.75, distribution={"1": 1.0})


@pytest.mark.parametrize("distribution", ['{"0": 1.0}, {"1": 1.0}', '{"0": 1.0', "not json"])
def test_a_broken_stored_text_is_an_error_as_before(tmp_path, distribution) -> None:
    judge = DummyJudge()
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        cache._connection.execute("INSERT INTO labels VALUES (?, ?, 'q', 'd', 0.25, ?, NULL, 0)",
                                  (judge.identity, judge.prompt_version, distribution))
        cache.put_many(judge, [(("q2", "d2"), Judgement(0.75))])
        with pytest.raises(ValueError):
            cache.get_many(judge, [("q", "d"), ("q2", "d2")])
