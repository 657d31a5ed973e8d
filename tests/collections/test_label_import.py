"""Any judge's qrels become graded pairs: score = grade / max_grade, every bad line located."""

from pathlib import Path

import pytest

from bixse.collections import ImportedLabels, qrels_to_graded_pairs, read_qrels_labels
from bixse.errors import InputError

LLMJUDGE = Path("/work/shared/data/beir/llmjudge-dl23")

BEIR_QRELS = "query-id\tcorpus-id\tscore\n1\t184\t2\n1\t29\t0\n\n2\t12\t3\n2\t15\t1\n1\t30\t3\n"
TREC_QRELS = "1 0 184 2\n1 0 29 0\n2 Q0 12 3\n\n2 0 15 1\n1 0 30 3\n"


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.mark.parametrize(("name", "content"), [("umbrela.tsv", BEIR_QRELS), ("assessors.txt", TREC_QRELS)])
def test_pairs_score_grade_over_max_grade(tmp_path, cranfield, name, content):
    path = write(tmp_path, name, content)
    labels = read_qrels_labels(path, cranfield, max_grade=3)
    assert isinstance(labels, ImportedLabels)
    assert [(p.query_id, p.doc_id, p.grade) for p in labels.pairs] == [
        ("1", "184", 2), ("1", "29", 0), ("2", "12", 3), ("2", "15", 1), ("1", "30", 3)]
    assert [p.score for p in labels.pairs] == [2 / 3, 0.0, 1.0, 1 / 3, 1.0]
    assert labels.grade_counts == {0: 1, 1: 1, 2: 1, 3: 2}
    assert labels.num_queries == 2
    assert labels.dropped_unknown == 0
    assert labels.path == str(path)
    first = labels.pairs[0]
    assert first.query == cranfield.queries["1"]
    assert first.document == cranfield.corpus["184"].full_text
    assert first.source == f"qrels:{path.stem}"


def test_beir_without_header_and_a_named_source(tmp_path, cranfield):
    path = write(tmp_path, "labels.tsv", "1\t184\t1\n3\t5\t0\n")
    labels = read_qrels_labels(path, cranfield, max_grade=1, source="llm:gpt4o")
    assert [(p.query_id, p.doc_id, p.score) for p in labels.pairs] == [("1", "184", 1.0), ("3", "5", 0.0)]
    assert {p.source for p in labels.pairs} == {"llm:gpt4o"}


def test_max_grade_sets_the_scale(tmp_path, cranfield):
    path = write(tmp_path, "q.tsv", "1\t184\t2\n")
    assert read_qrels_labels(path, cranfield, max_grade=4).pairs[0].score == 0.5
    assert read_qrels_labels(path, cranfield, max_grade=2).pairs[0].score == 1.0


def test_negative_grades_are_judged_not_relevant_and_a_qid_header_is_skipped(tmp_path, cranfield):
    """TREC Web's -2 (spam) reads as score 0, as in trec_eval; collections accept a ``qid`` header too."""
    path = write(tmp_path, "web.tsv", "qid\tdocid\tscore\n1\t184\t-2\n1\t29\t2\n")
    labels = read_qrels_labels(path, cranfield, max_grade=2)
    assert [(p.doc_id, p.grade, p.score) for p in labels.pairs] == [("184", -2, 0.0), ("29", 2, 1.0)]
    assert labels.grade_counts == {-2: 1, 2: 1}


# (case id, file name, content, max_grade, expected line, expected field or None, words in message)
CASES = [
    ("beir-field-count", "q.tsv", "query-id\tcorpus-id\tscore\n1\t184\t2\n1\t29\n", 3, 3, None, "3 tab-separated"),
    ("trec-field-count", "q.txt", "1 0 184 2\n1 0 29\n", 3, 2, None, "4 fields"),
    ("first-line-field-count", "q.txt", "1 184\n", 3, 1, None, "TREC qrels (4 fields"),
    ("beir-grade-float", "q.tsv", "1\t184\t2\n1\t29\t1.5\n", 3, 2, "score", "integer"),
    ("trec-grade-word", "q.txt", "1 0 184 2\n1 0 29 high\n", 3, 2, "grade", "integer"),
    ("trec-grade-above-max", "q.txt", "1 0 184 2\n1 0 29 4\n", 3, 2, "grade", "pass a larger --max-grade"),
    ("beir-duplicate", "q.tsv", "1\t184\t2\n1\t29\t1\n1\t184\t0\n", 3, 3, "corpus-id", "first judged on line 1"),
    ("trec-duplicate", "q.txt", "1 0 184 2\n\n1 1 184 2\n", 3, 3, "docid", "first judged on line 1"),
    ("beir-unknown-query", "q.tsv", "query-id\tcorpus-id\tscore\n1\t184\t2\n999\t184\t1\n", 3, 3, "query-id", "unknown query '999'"),
    ("beir-unknown-doc", "q.tsv", "1\t184\t2\n1\tmsmarco_1\t1\n", 3, 2, "corpus-id", "unknown document 'msmarco_1'"),
    ("trec-unknown-query", "q.txt", "999 0 184 2\n", 3, 1, "qid", "unknown query '999'"),
    ("trec-unknown-doc", "q.txt", "1 0 184 2\n1 0 99999 1\n", 3, 2, "docid", "unknown document '99999'"),
    ("beir-empty-id", "q.tsv", "1\t\t2\n", 3, 1, "corpus-id", "empty id"),
]


@pytest.mark.parametrize(("name", "file_name", "content", "max_grade", "line", "field", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_line_is_located(tmp_path, cranfield, name, file_name, content, max_grade, line, field, words):
    path = write(tmp_path, file_name, content)
    with pytest.raises(InputError) as caught:
        read_qrels_labels(path, cranfield, max_grade)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert words in error.message
    assert f"{path}:{line}" in str(error)


@pytest.mark.parametrize("content", ["", "\n  \n", "query-id\tcorpus-id\tscore\n"])
def test_a_file_without_judgements_is_an_error(tmp_path, cranfield, content):
    path = write(tmp_path, "empty.tsv", content)
    with pytest.raises(InputError, match="no judgements") as caught:
        read_qrels_labels(path, cranfield, 3)
    assert caught.value.path == str(path)


@pytest.mark.parametrize("max_grade", [0, -3])
def test_max_grade_below_one_is_an_error(tmp_path, cranfield, max_grade):
    path = write(tmp_path, "q.tsv", "1\t184\t0\n")
    with pytest.raises(InputError, match="at least 1") as caught:
        read_qrels_labels(path, cranfield, max_grade)
    assert caught.value.field == "max_grade"


def test_missing_file_is_an_input_error(tmp_path, cranfield):
    with pytest.raises(InputError, match="no such qrels file"):
        read_qrels_labels(tmp_path / "absent.tsv", cranfield, 3)


def test_drop_mode_counts_and_logs_unknown_ids(tmp_path, cranfield, caplog):
    path = write(tmp_path, "q.tsv", "1\t184\t2\n999\t184\t1\n1\tnope\t3\n2\t12\t1\n")
    labels = read_qrels_labels(path, cranfield, 3, unknown_ids="drop")
    assert [(p.query_id, p.doc_id) for p in labels.pairs] == [("1", "184"), ("2", "12")]
    assert labels.dropped_unknown == 2
    assert labels.grade_counts == {1: 1, 2: 1}
    assert labels.num_queries == 2
    assert "dropped 2 line(s)" in caplog.text


def test_drop_mode_still_rejects_bad_grades_on_unknown_lines(tmp_path, cranfield):
    path = write(tmp_path, "q.txt", "1 0 184 2\n999 0 184 7\n")
    with pytest.raises(InputError) as caught:
        read_qrels_labels(path, cranfield, 3, unknown_ids="drop")
    assert (caught.value.line, caught.value.field) == (2, "grade")


def test_every_line_dropped_is_an_error(tmp_path, cranfield):
    path = write(tmp_path, "q.tsv", "q1\tmsmarco_1\t2\nq2\tmsmarco_2\t0\n")
    with pytest.raises(InputError, match="all 2 judgement") as caught:
        read_qrels_labels(path, cranfield, 3, unknown_ids="drop")
    assert caught.value.path == str(path)


def test_reimporting_a_collections_own_qrels_matches_qrels_to_graded_pairs(tmp_path, cranfield):
    train = cranfield.query_ids("train")
    lines = [f"{q} 0 {d} {g}\n" for q in train for d, g in cranfield.qrels.get(q, {}).items()]
    path = write(tmp_path, "train.qrels", "".join(lines))
    imported = read_qrels_labels(path, cranfield, cranfield.max_grade(), source="human").pairs
    assert imported == qrels_to_graded_pairs(cranfield, "train", source="human")


@pytest.mark.skipif(not LLMJUDGE.is_dir(), reason="LLMJudge DL23 data not in /work/shared/data")
def test_a_real_llmjudge_label_set():
    from bixse.collections import load

    labels = read_qrels_labels(LLMJUDGE / "llm-labels" / "Olz__gpt4o.tsv", load(LLMJUDGE), max_grade=3)
    assert len(labels.pairs) == 4423
    assert labels.num_queries == 25
    assert labels.grade_counts == {0: 2258, 1: 1274, 2: 504, 3: 387}
    assert labels.dropped_unknown == 0
    assert {p.source for p in labels.pairs} == {"qrels:Olz__gpt4o"}
