"""The label cache and the labelling runner: keys, WAL mode, no model call for cached pairs,
no label lost on a failure, export to graded training pairs."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import pytest

from bixse.collections.training_data import GradedPair, read_training_file
from bixse.errors import InputError
from bixse.judging import DummyJudge, JudgeError, LabelCache, graded_pairs, judge_file, label_pairs
from bixse.judging.base import Judgement, Pair, Skipped
from bixse.judging.identity import text_sha256
from bixse.judging.runner import pair_key
from bixse.mining import Candidate, write_candidates

PAIRS = [(f"query {i % 3}", f"document {i}") for i in range(10)]


class CountingJudge(DummyJudge):
    """A dummy judge that remembers every pair it was asked about."""

    def __init__(self, seed: int = 0, prompt_version: str = "none") -> None:
        super().__init__(seed)
        self.prompt_version = prompt_version
        self.asked: list[Pair] = []

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        self.asked.extend(pairs)
        return super().judge(pairs)


def test_cache_is_sqlite_in_wal_mode(tmp_path) -> None:
    path = tmp_path / "labels.sqlite"
    with LabelCache(path) as cache:
        label_pairs(CountingJudge(), PAIRS[:2], cache)
        other = sqlite3.connect(path)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # WAL: a reader sees committed labels while the writer's connection stays open.
        assert other.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 2
        other.close()


def test_rerun_with_the_same_judge_makes_no_model_call(tmp_path) -> None:
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        first = CountingJudge()
        result = label_pairs(first, PAIRS, cache, batch_size=3)
        assert len(first.asked) == 10 and result.stats.judged == 10 and result.stats.batches == 4
        again = CountingJudge()
        rerun = label_pairs(again, PAIRS, cache, batch_size=3)
        assert again.asked == [] and rerun.stats.cached == 10 and rerun.stats.judged == 0
        assert rerun.scores == result.scores == [first.score(q, d) for q, d in PAIRS]


def test_key_changes_with_judge_identity_prompt_version_and_text(tmp_path) -> None:
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        label_pairs(CountingJudge(seed=0), PAIRS, cache)
        other_seed = CountingJudge(seed=1)
        label_pairs(other_seed, PAIRS, cache)
        assert len(other_seed.asked) == 10, "another judge identity reuses no label"
        new_prompt = CountingJudge(seed=0, prompt_version="umbrela-grade/2#abc")
        label_pairs(new_prompt, PAIRS, cache)
        assert len(new_prompt.asked) == 10, "another prompt version reuses no label"
        edited = CountingJudge(seed=0)
        changed = [PAIRS[0], (PAIRS[1][0], PAIRS[1][1] + "."), (PAIRS[2][0] + " ", PAIRS[2][1])]
        label_pairs(edited, changed, cache)
        assert edited.asked == changed[1:], "only the pairs whose text changed are judged again"
        assert cache.count() == 3 * 10 + 2
    assert pair_key("q", "d") == (text_sha256("q"), text_sha256("d"))
    assert text_sha256("q") == "8e35c2cd3bf6641bdb0e2050b76932cbb2e6034a0ddacc1d9bea82a6ba57f7cf"


def test_duplicate_pairs_are_judged_once(tmp_path) -> None:
    judge = CountingJudge()
    result = label_pairs(judge, [PAIRS[0], PAIRS[1], PAIRS[0]], None)
    assert judge.asked == [PAIRS[0], PAIRS[1]]
    assert result.stats.unique == 2 and result.scores[0] == result.scores[2]


def test_rows_round_trip_and_are_never_overwritten(tmp_path) -> None:
    judge = CountingJudge()
    key = pair_key("q", "d")
    first = Judgement(0.25, distribution={"0": 0.5, "1": 0.25, "2": 0.25, "3": 0.0}, extras={"label_mass": 0.9})
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        assert cache.put_many(judge, [(key, first)]) == 1
        assert cache.put_many(judge, [(key, Judgement(0.9))]) == 0
        stored = cache.get_many(judge, [key])[key]
        assert stored == first and stored.grade == 0
        assert cache.summary()[0]["labels"] == 1


def test_bad_cache_files_are_input_errors(tmp_path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match="not a bixse label cache"):
        LabelCache(junk)
    old = tmp_path / "old.sqlite"
    with LabelCache(old) as cache:
        cache._connection.execute("UPDATE meta SET value='0' WHERE key='schema'")
    with pytest.raises(InputError, match="schema 0"):
        LabelCache(old)
    # The refused cache's connection was closed: nothing holds the file open (fd count stays put).
    import os
    before = len(os.listdir("/proc/self/fd"))
    refusals = []  # kept, as a caller's logged traceback keeps the half-built cache alive
    for _ in range(5):
        with pytest.raises(InputError, match="schema 0") as refused:
            LabelCache(old)
        refusals.append(refused)
    assert len(os.listdir("/proc/self/fd")) == before


class FailingJudge(DummyJudge):
    """Finishes the first two pairs of its third batch, then fails for good."""

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        results = super().judge(pairs)
        if self.batches == 3:
            raise JudgeError("endpoint down", partial=[*results[:2], *[None] * (len(pairs) - 2)])
        return results


def test_a_failing_batch_keeps_every_finished_label(tmp_path) -> None:
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        with pytest.raises(JudgeError, match="12 labels of this run are stored") as caught:
            label_pairs(FailingJudge(), [(f"q{i}", f"d{i}") for i in range(20)], cache, batch_size=5)
        assert "(2 from the failing batch)" in str(caught.value)
        assert cache.count(DummyJudge()) == 12


class HalfSkippingJudge(DummyJudge):
    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        return [Skipped("odd answer") if "odd" in q else j for (q, _), j in zip(pairs, super().judge(pairs))]


def test_skips_are_counted_not_cached(tmp_path) -> None:
    pairs = [("odd q", "d1"), ("even q", "d2"), ("odd q", "d3")]
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        result = label_pairs(HalfSkippingJudge(), pairs, cache)
        assert result.stats.skipped == {"odd answer": 2} and result.stats.judged == 1
        assert result.scores[0] is None and result.scores[1] is not None
        assert cache.count() == 1


def test_empty_texts_are_input_errors_before_any_model_call(tmp_path) -> None:
    judge = CountingJudge()
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        label_pairs(judge, PAIRS[:2], cache)
        with pytest.raises(InputError, match="pair 1 has an empty query or document"):
            label_pairs(judge, [PAIRS[2], ("q", "   ")], cache)
        with pytest.raises(InputError, match="batch size"):
            label_pairs(judge, PAIRS, cache, batch_size=0)
        assert len(judge.asked) == 2 and cache.count() == 2


def test_graded_pairs_export(tmp_path, cranfield) -> None:
    candidates = [Candidate("1", "51", 1, 9.0, "bm25", "q one", "doc a"),
                  Candidate("1", "486", 2, 8.0, "bm25", "q one", "doc b"),
                  Candidate("2", "12", 1, 7.0, "bm25", "q two", "doc c")]
    judgements = [Judgement(0.7, distribution={"0": 0.1, "1": 0.1, "2": 0.2, "3": 0.6}), None, Judgement(0.2)]
    pairs = graded_pairs(candidates, judgements, "llm:toy")
    assert pairs == [GradedPair("q one", "doc a", 0.7, "1", "51", 3, "llm:toy"),
                     GradedPair("q two", "doc c", 0.2, "2", "12", None, "llm:toy")]

    # Through judge_file: candidates by id, texts from the collection, output readable as training data.
    path = tmp_path / "candidates.jsonl"
    write_candidates(path, [Candidate("1", "51", 1, 9.0), Candidate("1", "486", 2, 8.0), Candidate("2", "12", 1, 7.0)])
    judge = DummyJudge()
    result = judge_file(path, judge, tmp_path / "labels.sqlite", collection=cranfield, output=tmp_path / "graded.jsonl")
    assert result.exported == 3
    exported = read_training_file(tmp_path / "graded.jsonl", cranfield)
    assert [(p.query_id, p.doc_id) for p in exported] == [("1", "51"), ("1", "486"), ("2", "12")]
    assert all(p.source == "test:dummy-0" for p in exported)
    assert exported[0].query == cranfield.queries["1"] and exported[0].document == cranfield.corpus["51"].full_text
    assert [p.score for p in exported] == pytest.approx(
        [judge.score(cranfield.queries[q], cranfield.corpus[d].full_text) for q, d in [("1", "51"), ("1", "486"), ("2", "12")]])
