"""The file judge: grades read from a qrels file go through the agreement report like a live
judge's; on the LLMJudge benchmark it reproduces the published kappas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bixse.collections.model import Collection, Document
from bixse.errors import InputError
from bixse.judging import FileJudge, Judgement, Skipped, agreement_report, get_judge, judge_grades, label_pairs
from bixse.judging.runner import judge_candidates
from bixse.mining import Candidate, write_candidates

LLMJUDGE = Path("/work/shared/data/beir/llmjudge-dl23")
GPT4O = LLMJUDGE / "llm-labels" / "Olz__gpt4o.tsv"

# d2 and d3 are the same passage under two ids: the file grades them apart.
TOY = Collection(name="toy", corpus={"d1": Document("d1", "alpha"), "d2": Document("d2", "beta"),
                                     "d3": Document("d3", "beta"), "d4": Document("d4", "gamma")},
                 queries={"q1": "first query", "q2": "second query"},
                 qrels={"q1": {"d1": 3, "d2": 0, "d3": 1}, "q2": {"d4": 2}})


@pytest.fixture
def toy_labels(tmp_path) -> Path:
    path = tmp_path / "judge.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td3\t3\nq2\td4\t0\n")
    return path


def test_judges_by_ids_and_by_texts(toy_labels) -> None:
    judge = get_judge("file", labels=toy_labels, max_grade=3, collection=TOY)
    assert isinstance(judge, FileJudge) and judge.by_ids and judge.source == "qrels:judge"
    assert judge.identity.startswith("file:judge@") and judge.identity.endswith("|max_grade=3")
    by_id = judge.judge_ids([("q1", "d1"), ("q1", "d3"), ("q2", "d1")])
    assert by_id[0] == Judgement(score=2 / 3, distribution={"0": 0.0, "1": 0.0, "2": 1.0, "3": 0.0})
    assert by_id[1].score == pytest.approx(1.0) and by_id[1].grade == 3
    assert isinstance(by_id[2], Skipped)
    # By texts, the duplicate passage's two grades (1 and 3) average: score 2/3, half the mass on each.
    by_text = judge.judge([("first query", "beta"), ("second query", "gamma"), ("second query", "alpha")])
    assert by_text[0].score == pytest.approx(2 / 3)
    assert by_text[0].distribution == {"0": 0, "1": 0.5, "2": 0, "3": 0.5}
    assert by_text[1].score == 0.0 and isinstance(by_text[2], Skipped)
    assert judge.texts_graded_apart == 1
    assert label_pairs(judge, [("first query", "alpha")]).scores == [pytest.approx(2 / 3)]


def test_runner_asks_by_ids_and_caches_nothing(toy_labels, tmp_path) -> None:
    judge = FileJudge(toy_labels, max_grade=3, collection=TOY)
    candidates = [Candidate("q1", d, i + 1, 0.0, None, "first query", TOY.corpus[d].text)
                  for i, d in enumerate(["d1", "d2", "d3"])]
    result = judge_candidates(candidates, judge)
    assert result.scores == [pytest.approx(2 / 3), pytest.approx(1 / 3), pytest.approx(1.0)], "d2, d3 kept apart"
    assert result.stats.judged == 3 and result.stats.cached == 0


def test_bad_options_and_files(toy_labels, tmp_path) -> None:
    with pytest.raises(InputError, match="needs --labels") as error:
        get_judge("file", max_grade=3, collection=TOY)
    assert error.value.field == "labels"
    with pytest.raises(InputError, match="needs --max-grade") as error:
        get_judge("file", labels=toy_labels, collection=TOY)
    assert error.value.field == "max_grade"
    with pytest.raises(InputError, match="needs --collection") as error:
        get_judge("file", labels=toy_labels, max_grade=3)
    assert error.value.field == "collection"
    with pytest.raises(InputError, match="above the top grade 2") as error:
        FileJudge(toy_labels, max_grade=2, collection=TOY)
    assert error.value.line == 4 and error.value.path == str(toy_labels)
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("q1\td9\t1\n")
    with pytest.raises(InputError, match="unknown document 'd9'"):
        FileJudge(unknown, max_grade=3, collection=TOY)


@pytest.mark.skipif(not GPT4O.is_file(), reason="the LLMJudge label sets are not in ../shared/data")
def test_llmjudge_gpt4o_reproduces_the_published_kappas(tmp_path) -> None:
    """Olz-gpt4o against the NIST grades on the 4,423 test pairs: kappa4 0.2625, kappa2 (>= 2) 0.3657
    (llm-labels/README.md, = Table 3 of arXiv 2502.13908), through `bixse judge --judge file --agreement`."""
    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.collections import load

    collection = load(LLMJUDGE)
    test_qrels = collection.subset("test").qrels
    candidates = [Candidate(query_id, doc_id, rank, 0.0) for query_id, judged in test_qrels.items()
                  for rank, doc_id in enumerate(judged, start=1)]
    assert len(candidates) == 4423
    write_candidates(tmp_path / "candidates.jsonl", candidates)
    arguments = ["judge", "-i", str(tmp_path / "candidates.jsonl"), "-c", str(LLMJUDGE), "--judge", "file",
                 "--labels", str(GPT4O), "--max-grade", "3", "--agreement", str(tmp_path / "agreement.json"),
                 "--cache", str(tmp_path / "unused.sqlite")]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "4,423 pairs (qrels:Olz__gpt4o)" in result.output and "4,423 judged now" in result.output
    assert not (tmp_path / "unused.sqlite").exists(), "a file judge writes no label cache"
    judged = json.loads((tmp_path / "agreement.json").read_text())["views"]["judged_only"]
    assert judged["pairs"] == 4423
    assert round(judged["kappa_graded"], 4) == 0.2625 and round(judged["kappa_binary"], 4) == 0.3657
    # NIST grade counts 0:2005 1:1233 2:808 3:377 (README); GPT-4o's confusion rows sum to them.
    assert [sum(row) for row in judged["confusion"]] == [2005, 1233, 808, 377]
    assert [judged["calibration"][str(g)]["count"] for g in range(4)] == [2005, 1233, 808, 377]
    means = [judged["calibration"][str(g)]["mean_score"] for g in range(4)]
    assert means == sorted(means), "a higher human grade gets a higher mean score"

    # The same through the library.
    judge = FileJudge(GPT4O, max_grade=3, collection=collection)
    with_texts = [Candidate(c.query_id, c.doc_id, c.rank, 0.0, None, collection.queries[c.query_id],
                            collection.corpus[c.doc_id].full_text) for c in candidates]
    labels = judge_candidates(with_texts, judge)
    report = agreement_report(with_texts, labels.scores, collection.qrels,
                              grades=judge_grades(labels.judgements, 3), max_grade=3)
    assert report.views["judged_only"].kappa_graded == pytest.approx(0.262472, abs=1e-6)
    assert report.views["judged_only"].kappa_binary == pytest.approx(0.365683, abs=1e-6)
