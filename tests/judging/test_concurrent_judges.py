"""Two `bixse judge` processes on one label cache share the work: together they call the judge
for little more than the pairs there are, and the cache holds every pair once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bixse.judging import DummyJudge
from bixse.judging.cache import LabelCache
from bixse.judging.runner import label_pairs, pair_key
from bixse.mining import Candidate, write_candidates

QUERIES, DOCS_PER_QUERY, BATCH = 8, 5, 2


def run_judge(candidates: Path, cache: Path, calls: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "bixse", "judge", "-i", str(candidates), "--judge", "dummy",
               "--batch-size", str(BATCH), "--cache", str(cache)]
    return subprocess.Popen(command, env={**env, "BIXSE_DUMMY_JUDGE_CALLS": str(calls)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_judges_on_one_cache_share_the_pairs(tmp_path) -> None:
    candidates = [Candidate(str(q), f"{q}-{d}", d + 1, 10.0 - d, "bm25", f"query number {q}", f"document {d} of {q}")
                  for q in range(QUERIES) for d in range(DOCS_PER_QUERY)]
    expected = {pair_key(c.query, c.document) for c in candidates}
    candidates_path, cache = tmp_path / "candidates.jsonl", tmp_path / "labels.sqlite"
    write_candidates(candidates_path, candidates, with_texts=True)
    env = {**os.environ, "BIXSE_DUMMY_JUDGE_SLEEP": "0.3", "BIXSE_CACHE": str(tmp_path / "cache-home"),
           "HF_HUB_OFFLINE": "1"}

    runs = [run_judge(candidates_path, cache, tmp_path / f"calls-{i}.log", env) for i in (1, 2)]
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert f"{len(candidates)} pairs (test:dummy-0)" in stdout

    calls = [line.split()[1:] for i in (1, 2) for line in (tmp_path / f"calls-{i}.log").read_text().splitlines()
             if line.startswith("call ")]
    assert {tuple(call) for call in calls} == expected
    assert len(calls) < 1.5 * len(candidates), f"{len(calls)} judge calls for {len(candidates)} pairs"
    with sqlite3.connect(cache) as connection:
        keys = connection.execute("SELECT query_sha256, doc_sha256 FROM labels").fetchall()
        claims = connection.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    assert sorted(keys) == sorted(expected), "every pair labelled once"
    assert claims == 0, "both runs released their claims"


def test_a_batch_stored_meanwhile_is_counted_as_cached(tmp_path) -> None:
    pairs = [(f"query {i}", f"document {i}") for i in range(6)]
    judge = DummyJudge()
    with LabelCache(tmp_path / "labels.sqlite") as cache, LabelCache(tmp_path / "labels.sqlite") as other:
        # Another run stores the second batch while this one is judging the first.
        original = judge.judge

        def judge_and_race(batch):
            if judge.batches == 0:
                other.put_many(judge, [(pair_key(*pair), judge_result) for pair, judge_result
                                       in zip(pairs[2:4], original(pairs[2:4]))])
            return original(batch)

        judge.judge = judge_and_race
        result = label_pairs(judge, pairs, cache, batch_size=2)
    assert (result.stats.cached, result.stats.judged) == (2, 4)
    assert result.scores == [judge.score(q, d) for q, d in pairs]
