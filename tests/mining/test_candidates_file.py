"""The candidates file: round trip, and every bad input located by path, line and field,
without ever losing labels a previous run made."""

from __future__ import annotations

import json

import pytest

from bixse.errors import InputError
from bixse.judging import DummyJudge, LabelCache, judge_file
from bixse.mining import Candidate, read_candidates, write_candidates

GOOD = [{"query_id": "1", "doc_id": "51", "rank": 1, "score": 9.5, "retriever": "bm25"},
        {"query_id": "1", "doc_id": "486", "rank": 2, "score": 8.0, "retriever": "bm25"},
        {"query_id": "2", "doc_id": "12", "rank": 1, "score": 7.0}]


def write_lines(path, records, tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")


def test_round_trip_with_and_without_texts(tmp_path, cranfield) -> None:
    candidates = [Candidate("1", "51", 1, 9.5, "bm25", "q", "d1"), Candidate("2", "12", 1, 7.0, None, "q2", "d2")]
    assert write_candidates(tmp_path / "c.jsonl", candidates, with_texts=True) == 2
    assert read_candidates(tmp_path / "c.jsonl") == candidates
    write_candidates(tmp_path / "ids.jsonl", candidates)
    filled = read_candidates(tmp_path / "ids.jsonl", cranfield)
    assert filled[0].query == cranfield.queries["1"] and filled[1].document == cranfield.corpus["12"].full_text


BAD_LINES = [
    ({"query_id": "9999", "doc_id": "51", "rank": 1, "score": 1.0}, "query_id", "unknown query '9999'"),
    ({"query_id": "1", "doc_id": "no-such-doc", "rank": 1, "score": 1.0}, "doc_id", "unknown document"),
    ({"query_id": "1", "doc_id": "7", "rank": 1, "score": 1.0, "document": "  "}, "document", "empty text"),
    ({"query_id": "1", "doc_id": "7", "rank": 1, "score": 1.0, "query": ""}, "query", "empty text"),
    ({"query_id": "1", "doc_id": "7", "rank": 0, "score": 1.0}, "rank", "positive integer"),
    ({"query_id": "1", "doc_id": "7", "rank": 1, "score": "high"}, "score", "finite number"),
    ({"doc_id": "7", "rank": 1, "score": 1.0}, "query_id", "missing id"),
    ({"query_id": "1", "doc_id": "486", "rank": 3, "score": 1.0}, "doc_id", "repeats line 2"),
]


@pytest.mark.parametrize("record, field, message", BAD_LINES, ids=[f"{f}-{m}" for _, f, m in BAD_LINES])
def test_bad_lines_are_located(tmp_path, cranfield, record, field, message) -> None:
    path = tmp_path / "c.jsonl"
    write_lines(path, [*GOOD, record])
    with pytest.raises(InputError, match=message) as caught:
        read_candidates(path, cranfield)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 4, field)


def test_truncated_file_and_other_file_errors(tmp_path, cranfield) -> None:
    path = tmp_path / "c.jsonl"
    write_lines(path, GOOD, tail='{"query_id": "2", "doc_id": "1')  # an interrupted copy
    with pytest.raises(InputError, match="truncated last line") as caught:
        read_candidates(path, cranfield)
    assert (caught.value.path, caught.value.line) == (str(path), 4)
    write_lines(path, GOOD[:1], tail='{"query_id": oops}\n' + json.dumps(GOOD[1]) + "\n")
    with pytest.raises(InputError, match="invalid JSON") as caught:
        read_candidates(path, cranfield)
    assert caught.value.line == 2
    write_lines(path, GOOD)
    with pytest.raises(InputError, match="no 'query' text and no collection") as caught:
        read_candidates(path)
    assert (caught.value.line, caught.value.field) == (1, "query")
    path.write_text("\n\n")
    with pytest.raises(InputError, match="no candidates in file"):
        read_candidates(path, cranfield)
    with pytest.raises(InputError, match="does not exist"):
        read_candidates(tmp_path / "missing.jsonl", cranfield)


def test_a_bad_file_costs_no_model_call_and_loses_no_label(tmp_path, cranfield) -> None:
    path, cache_path, calls = tmp_path / "c.jsonl", tmp_path / "labels.sqlite", tmp_path / "calls.log"
    write_lines(path, GOOD)
    judge = DummyJudge(calls_file=calls)
    judge_file(path, judge, cache_path, collection=cranfield)
    made = calls.read_text()
    # The same file, cut off mid-line, then with an unknown id: both refused before judging.
    write_lines(path, [*GOOD, {"query_id": "3", "doc_id": "5", "rank": 1, "score": 1.0}],
                tail='{"query_id": "3", "doc_id": "6", "ra')
    with pytest.raises(InputError, match="truncated last line"):
        judge_file(path, judge, cache_path, collection=cranfield)
    write_lines(path, [*GOOD, {"query_id": "3", "doc_id": "unknown", "rank": 1, "score": 1.0}])
    with pytest.raises(InputError, match="unknown document"):
        judge_file(path, judge, cache_path, collection=cranfield)
    assert calls.read_text() == made, "no model call for a file that fails validation"
    with LabelCache(cache_path) as cache:
        assert cache.count(judge) == 3
    write_lines(path, [*GOOD, {"query_id": "3", "doc_id": "5", "rank": 1, "score": 1.0}])
    result = judge_file(path, judge, cache_path, collection=cranfield)
    assert (result.labels.stats.cached, result.labels.stats.judged) == (3, 1)


def test_bixse_judge_refuses_a_truncated_file_keeping_the_cache(tmp_path, cranfield) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app

    path, cache_path = tmp_path / "c.jsonl", tmp_path / "labels.sqlite"
    write_lines(path, GOOD)
    arguments = ["judge", "-i", str(path), "-c", "cranfield", "--judge", "dummy", "--cache", str(cache_path)]
    assert CliRunner().invoke(app, arguments).exit_code == 0
    write_lines(path, GOOD, tail='{"query_id": "2", "doc_i')
    result = CliRunner().invoke(app, arguments)
    assert isinstance(result.exception, InputError)  # `bixse` prints it as one line, exit code 2
    assert (result.exception.path, result.exception.line) == (str(path), 4)
    with LabelCache(cache_path) as cache:
        assert cache.count(DummyJudge()) == 3


def test_a_trec_run_as_candidates_keeps_each_querys_top_k(tmp_path, cranfield) -> None:
    from bixse.mining import read_run_candidates

    run = tmp_path / "run.trec"
    run.write_text("1 Q0 184 3 1.0 bm25\n1 Q0 29 1 3.0 bm25\n1 Q0 31 2 2.0 bm25\n1 Q0 12 4 2.0 bm25\n"
                   "2 Q0 12 1 5.0 bm25\n")
    candidates = read_run_candidates(run, cranfield, top_k=3)
    # By score, not by the file's ranks; the tie at 2.0 goes to the smaller doc id.
    assert [(c.query_id, c.doc_id, c.rank, c.score) for c in candidates] == [
        ("1", "29", 1, 3.0), ("1", "12", 2, 2.0), ("1", "31", 3, 2.0), ("2", "12", 1, 5.0)]
    assert candidates[0].query == cranfield.queries["1"] and candidates[0].document == cranfield.corpus["29"].full_text
    assert {c.retriever for c in candidates} == {"run:run.trec"}
    run.write_text("1 Q0 184 1 1.0 bm25\n1 Q0 no-such-doc 2 0.5 bm25\n")
    with pytest.raises(InputError, match="unknown document 'no-such-doc'") as error:
        read_run_candidates(run, cranfield)
    assert (error.value.path, error.value.line, error.value.field) == (str(run), 2, "docid")


def test_bixse_judge_takes_a_run_as_its_candidates(tmp_path, cranfield) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.collections.training_data import read_graded_pairs

    run, output = tmp_path / "run.trec", tmp_path / "graded.jsonl"
    run.write_text("".join(f"{q} Q0 {d} {r} {10 - r}.0 bm25\n" for q in ("1", "2")
                           for r, d in enumerate(("184", "29", "31", "12", "51"), start=1)))
    arguments = ["judge", "--candidates-run", str(run), "--top-k", "2", "-c", "cranfield", "--judge", "dummy",
                 "--cache", str(tmp_path / "labels.sqlite"), "-o", str(output)]
    result = CliRunner().invoke(app, arguments, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "4 pairs (test:dummy-0): 0 cached, 4 judged now" in result.output
    assert [(p.query_id, p.doc_id) for p in read_graded_pairs(output)] == [
        ("1", "184"), ("1", "29"), ("2", "184"), ("2", "29")]
    both = CliRunner().invoke(app, [*arguments, "-i", str(tmp_path / "c.jsonl")])
    assert isinstance(both.exception, InputError) and both.exception.field == "candidates"
    no_run = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "c.jsonl"), "--top-k", "2", "--judge", "dummy"])
    assert isinstance(no_run.exception, InputError) and no_run.exception.field == "top_k"
