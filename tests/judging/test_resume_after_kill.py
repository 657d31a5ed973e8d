"""`bixse judge` SIGKILLed mid-run, then rerun: every pair labelled exactly once, counted by
model calls (the dummy judge logs each finished call durably), and a third run calls nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bixse.judging import DummyJudge
from bixse.judging.runner import pair_key
from bixse.mining import Candidate, write_candidates

QUERIES, DOCS_PER_QUERY, BATCH = 6, 4, 3


def run_judge(candidates: Path, cache: Path, output: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "bixse", "judge", "-i", str(candidates), "--judge", "dummy",
               "--batch-size", str(BATCH), "--cache", str(cache), "-o", str(output)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def kill_during_batch(process: subprocess.Popen, calls: Path, batch: int, deadline_s: float = 60.0) -> None:
    """SIGKILL ``process`` while the judge sleeps inside ``batch`` (started, not finished)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        lines = logged(calls)
        if lines and lines[-1] == f"batch {batch} start":
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return
        if process.poll() is not None:
            raise AssertionError(f"judge ended before batch {batch}: {process.stderr.read()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError(f"batch {batch} never started")


def cached_keys(cache: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(cache) as connection:
        return connection.execute("SELECT query_sha256, doc_sha256 FROM labels").fetchall()


def test_killed_run_resumes_without_losing_or_repeating_a_label(tmp_path) -> None:
    candidates = [Candidate(str(q), f"{q}-{d}", d + 1, 10.0 - d, "bm25", f"query number {q}", f"document {d} of query {q}")
                  for q in range(QUERIES) for d in range(DOCS_PER_QUERY)]
    pairs = [(c.query, c.document) for c in candidates]
    expected = {pair_key(q, d) for q, d in pairs}
    candidates_path, cache, output, calls = (tmp_path / "candidates.jsonl", tmp_path / "labels.sqlite",
                                             tmp_path / "graded.jsonl", tmp_path / "calls.log")
    write_candidates(candidates_path, candidates, with_texts=True)
    env = {**os.environ, "BIXSE_DUMMY_JUDGE_CALLS": str(calls), "BIXSE_DUMMY_JUDGE_SLEEP": "0.5",
           "BIXSE_CACHE": str(tmp_path / "cache-home"), "HF_HUB_OFFLINE": "1"}

    first = run_judge(candidates_path, cache, output, env)
    kill_during_batch(first, calls, batch=3)
    assert first.returncode == -signal.SIGKILL
    made = [line for line in logged(calls) if line.startswith("call ")]
    assert len(made) == 2 * BATCH, "two batches finished before the kill"
    assert len(cached_keys(cache)) == 2 * BATCH, "both finished batches were committed"
    assert not output.exists(), "no half-written export"

    second = run_judge(candidates_path, cache, output, {**env, "BIXSE_DUMMY_JUDGE_SLEEP": "0"})
    stdout, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    assert f"{len(pairs)} pairs (test:dummy-0): {2 * BATCH} cached, {len(pairs) - 2 * BATCH} judged now" in stdout

    model_calls = [tuple(line.split()[1:]) for line in logged(calls) if line.startswith("call ")]
    assert len(model_calls) == len(pairs), "one model call per pair over both runs"
    assert set(model_calls) == expected
    keys = cached_keys(cache)
    assert len(keys) == len(pairs) and set(keys) == expected, "every pair labelled exactly once"

    log_before = calls.read_text()
    third = run_judge(candidates_path, cache, output, env)
    stdout, stderr = third.communicate(timeout=60)
    assert third.returncode == 0, stderr
    assert f"{len(pairs)} cached, 0 judged now" in stdout
    assert calls.read_text() == log_before, "a rerun with the same judge makes no model call"

    exported = output.read_text().splitlines()
    assert len(exported) == len(pairs)
    judge = DummyJudge()
    first_pair = json.loads(exported[0])
    assert first_pair["score"] == judge.score(*pairs[0]) and first_pair["source"] == "test:dummy-0"
