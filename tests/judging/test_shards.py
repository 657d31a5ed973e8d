"""`bixse judge --shard i/n` and `bixse labels merge`: shards cover every pair exactly once, merge
back to what one unsharded run caches, and conflicts or foreign caches are reported."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bixse.errors import InputError
from bixse.judging import DummyJudge, Judgement, LabelCache, judge_file, merge_caches, parse_shard, select_shard
from bixse.judging.runner import pair_key
from bixse.judging.shards import shard_of_key
from bixse.mining import Candidate, write_candidates

# 8 queries x 5 documents, plus one passage duplicated under a second id (same texts, same key).
CANDIDATES = [Candidate(f"q{q}", f"d{q}-{d}", d + 1, 0.0, None, f"query {q}", f"document {q} {d}")
              for q in range(8) for d in range(5)]
CANDIDATES.append(Candidate("q0", "d0-dup", 6, 0.0, None, "query 0", "document 0 0"))


def rows(path: Path) -> set[tuple]:
    with sqlite3.connect(path) as connection:
        return set(connection.execute("SELECT judge, prompt_version, query_sha256, doc_sha256, score, distribution, "
                                      "extras FROM labels").fetchall())


@pytest.fixture
def candidates_file(tmp_path) -> Path:
    path = tmp_path / "candidates.jsonl"
    write_candidates(path, CANDIDATES, with_texts=True)
    return path


def test_parse_shard() -> None:
    assert parse_shard("2/4") == (2, 4) and parse_shard("1/1") == (1, 1) and parse_shard(" 3/3 ") == (3, 3)
    for bad in ("3/2", "0/2", "2", "a/b", "1/0", "-1/2", "1/2/3", ""):
        with pytest.raises(InputError, match="1 <= i <= n") as error:
            parse_shard(bad)
        assert error.value.field == "shard"


def test_shards_cover_every_pair_exactly_once() -> None:
    shares = [select_shard(CANDIDATES, (i, 3)) for i in (1, 2, 3)]
    ids = [(c.query_id, c.doc_id) for share in shares for c in share]
    assert sorted(ids) == sorted((c.query_id, c.doc_id) for c in CANDIDATES) and len(ids) == len(set(ids))
    assert all(shares), "41 pairs over 3 shards: none empty"
    # Same texts, same shard: the duplicated passage sits with its original.
    keys = [{pair_key(c.query, c.document) for c in share} for share in shares]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    # Deterministic and independent of order.
    assert select_shard(list(reversed(CANDIDATES)), (2, 3)) == list(reversed(shares[1]))
    assert shard_of_key(pair_key("query 0", "document 0 0"), 3) in (1, 2, 3)
    assert select_shard(CANDIDATES, None) == CANDIDATES == select_shard(CANDIDATES, (1, 1))
    with pytest.raises(InputError, match="no texts to shard by"):
        select_shard([Candidate("q", "d", 1, 0.0)], (1, 2))


def test_sharded_runs_merge_back_to_the_unsharded_cache(candidates_file, tmp_path) -> None:
    whole = judge_file(candidates_file, DummyJudge(), tmp_path / "whole.sqlite")
    shard_paths = [tmp_path / f"labels.shard{i}of3.sqlite" for i in (1, 2, 3)]
    judged = [judge_file(candidates_file, DummyJudge(), path, shard=(i, 3)).labels.stats.judged
              for i, path in zip((1, 2, 3), shard_paths)]
    assert sum(judged) == whole.labels.stats.judged == 40, "41 candidates, 40 distinct texts"
    assert all(rows(a).isdisjoint(rows(b)) for a in shard_paths for b in shard_paths if a != b)

    result = merge_caches(tmp_path / "merged.sqlite", shard_paths)
    assert result.labels == 40 and result.conflicts == 0 and result.conflict_examples == []
    assert [m.added for m in result.inputs] == judged and all(m.duplicates == 0 for m in result.inputs)
    assert result.judges == [(DummyJudge().identity, "none")]
    merged_rows = {row[:6] for row in rows(tmp_path / "merged.sqlite")}
    assert merged_rows == {row[:6] for row in rows(tmp_path / "whole.sqlite")}
    with LabelCache(tmp_path / "merged.sqlite") as cache:
        assert cache.summary()[0]["description"]["kind"] == "dummy", "provenance merged too"

    again = merge_caches(tmp_path / "merged.sqlite", shard_paths)
    assert again.labels == 40 and [m.added for m in again.inputs] == [0, 0, 0]
    assert [m.duplicates for m in again.inputs] == judged, "a second merge is a no-op"


def test_conflicting_judgements_are_reported(tmp_path) -> None:
    judge = DummyJudge()
    key_a, key_b = ("qa", "da"), ("qb", "db")
    with LabelCache(tmp_path / "one.sqlite") as cache:
        cache.register(judge)
        cache.put_many(judge, [(key_a, Judgement(0.25)), (key_b, Judgement(0.5))])
    with LabelCache(tmp_path / "two.sqlite") as cache:
        cache.register(judge)
        cache.put_many(judge, [(key_a, Judgement(0.75)), (key_b, Judgement(0.5 + 1e-9)),
                               (("qc", "dc"), Judgement(0.1))])
    result = merge_caches(tmp_path / "out.sqlite", [tmp_path / "one.sqlite", tmp_path / "two.sqlite"])
    assert result.labels == 3 and result.conflicts == 1
    two = result.inputs[1]
    assert (two.labels, two.added, two.duplicates, two.conflicts) == (3, 1, 1, 1)
    conflict = result.conflict_examples[0]
    assert (conflict.query_sha256, conflict.doc_sha256) == ("qa", "da")
    assert (conflict.kept_score, conflict.other_score) == (0.25, 0.75)
    assert conflict.other_path == str(tmp_path / "two.sqlite")
    with LabelCache(tmp_path / "out.sqlite") as cache:
        assert cache.get_many(judge, [key_a])[key_a].score == 0.25, "the first merged is kept"
    strict = merge_caches(tmp_path / "strict.sqlite", [tmp_path / "one.sqlite", tmp_path / "two.sqlite"],
                          tolerance=0.0)
    assert strict.conflicts == 2

    from typer.testing import CliRunner

    from bixse.cli import app

    printed = CliRunner().invoke(app, ["labels", "merge", str(tmp_path / "cli.sqlite"), str(tmp_path / "one.sqlite"),
                                       str(tmp_path / "two.sqlite")])
    assert printed.exit_code == 0, printed.output
    assert "1 conflicting judgement(s)" in printed.output and "kept 0.250000" in printed.output


def test_bad_merges_are_input_errors(candidates_file, tmp_path) -> None:
    judge_file(candidates_file, DummyJudge(seed=0), tmp_path / "a.sqlite", shard=(1, 2))
    judge_file(candidates_file, DummyJudge(seed=0), tmp_path / "b.sqlite", shard=(2, 2))
    judge_file(candidates_file, DummyJudge(seed=1), tmp_path / "other.sqlite", shard=(2, 2))
    with pytest.raises(InputError, match="holds labels of dummy:seed=1") as error:
        merge_caches(tmp_path / "out.sqlite", [tmp_path / "a.sqlite", tmp_path / "other.sqlite"])
    assert error.value.field == "judge" and error.value.path == str(tmp_path / "other.sqlite")
    assert not (tmp_path / "out.sqlite").exists(), "checked before anything is written"
    with pytest.raises(InputError, match="merge into a new file") as error:
        merge_caches(tmp_path / "other.sqlite", [tmp_path / "a.sqlite", tmp_path / "b.sqlite"])
    assert error.value.path == str(tmp_path / "other.sqlite")
    with pytest.raises(InputError, match="the output is also an input"):
        merge_caches(tmp_path / "a.sqlite", [tmp_path / "a.sqlite", tmp_path / "b.sqlite"])
    with pytest.raises(InputError, match="passed twice"):
        merge_caches(tmp_path / "out.sqlite", [tmp_path / "a.sqlite", tmp_path / "a.sqlite"])
    with pytest.raises(InputError, match="no such label cache"):
        merge_caches(tmp_path / "out.sqlite", [tmp_path / "a.sqlite", tmp_path / "missing.sqlite"])
    (tmp_path / "text.sqlite").write_text("not a database at all, just some text that is long enough" * 20)
    with pytest.raises(InputError, match="not a bixse label cache"):
        merge_caches(tmp_path / "out.sqlite", [tmp_path / "a.sqlite", tmp_path / "text.sqlite"])
    with pytest.raises(InputError, match="at least one"):
        merge_caches(tmp_path / "out.sqlite", [])


def test_cli_shard_and_merge(candidates_file, tmp_path) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app

    runner = CliRunner()
    outputs = []
    for i in (1, 2):
        result = runner.invoke(app, ["judge", "-i", str(candidates_file), "--judge", "dummy", "--shard", f"{i}/2",
                                     "--cache", str(tmp_path / f"s{i}.sqlite")])
        assert result.exit_code == 0, result.output
        assert f"of shard {i}/2 (test:dummy-0)" in result.output
        outputs.append(result.output)
    merged = runner.invoke(app, ["labels", "merge", str(tmp_path / "all.sqlite"), str(tmp_path / "s1.sqlite"),
                                 str(tmp_path / "s2.sqlite")])
    assert merged.exit_code == 0, merged.output
    assert "40 labels in" in merged.output and "conflicting" not in merged.output
    bad = runner.invoke(app, ["judge", "-i", str(candidates_file), "--judge", "dummy", "--shard", "3/2",
                              "--cache", str(tmp_path / "x.sqlite")])
    assert isinstance(bad.exception, InputError) and bad.exception.field == "shard"
    assert not (tmp_path / "x.sqlite").exists()
