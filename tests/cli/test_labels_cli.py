"""`bixse labels import` through the real command line."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bixse.cli import app
from bixse.collections.training_data import read_graded_pairs

runner = CliRunner()
LLMJUDGE = Path("/work/shared/data/beir/llmjudge-dl23")


def test_import_writes_pairs_that_read_back_with_equal_scores(tmp_path, cranfield):
    qrels = tmp_path / "umbrela.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n1\t184\t2\n1\t29\t0\n2\t12\t3\n")
    output = tmp_path / "out" / "labels.jsonl"
    result = runner.invoke(app, ["labels", "import", str(qrels), "-c", "cranfield", "--max-grade", "3",
                                 "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 graded pairs for 2 queries (grades 0: 1, 2: 1, 3: 1; score = grade / 3; 0 dropped" in result.output
    pairs = read_graded_pairs(output, cranfield)
    assert [(p.query_id, p.doc_id, p.grade, p.score) for p in pairs] == [
        ("1", "184", 2, 2 / 3), ("1", "29", 0, 0.0), ("2", "12", 3, 1.0)]
    assert pairs[0].document == cranfield.corpus["184"].full_text
    assert {p.source for p in pairs} == {"qrels:umbrela"}


def test_drop_unknown_and_source(tmp_path):
    qrels = tmp_path / "assessors.txt"
    qrels.write_text("1 0 184 1\n1 0 msmarco_9 1\n999 0 12 0\n")
    output = tmp_path / "labels.jsonl"
    result = runner.invoke(app, ["labels", "import", str(qrels), "-c", "cranfield", "--max-grade", "1",
                                 "-o", str(output), "--drop-unknown", "--source", "trec:assessors"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 graded pairs for 1 queries" in result.output and "2 dropped as unknown" in result.output
    [pair] = read_graded_pairs(output)
    assert (pair.query_id, pair.doc_id, pair.score, pair.source) == ("1", "184", 1.0, "trec:assessors")


def test_max_grade_is_required(tmp_path):
    qrels = tmp_path / "q.tsv"
    qrels.write_text("1\t184\t2\n")
    result = runner.invoke(app, ["labels", "import", str(qrels), "-c", "cranfield", "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert not (tmp_path / "o.jsonl").exists()


def test_unknown_id_exits_2_naming_the_line_and_writes_nothing(tmp_path):
    qrels = tmp_path / "q.tsv"
    qrels.write_text("1\t184\t2\n1\tmsmarco_9\t1\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.run([sys.executable, "-m", "bixse", "labels", "import", str(qrels), "-c", "cranfield",
                           "--max-grade", "3", "-o", str(out_dir / "labels.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{qrels}:2: field 'corpus-id': unknown document 'msmarco_9'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(out_dir.iterdir()) == []


@pytest.mark.skipif(not LLMJUDGE.is_dir(), reason="LLMJudge DL23 data not in /work/shared/data")
def test_import_a_real_llmjudge_label_set(tmp_path):
    output = tmp_path / "gpt4o.jsonl"
    result = runner.invoke(app, ["labels", "import", str(LLMJUDGE / "llm-labels" / "Olz__gpt4o.tsv"),
                                 "-c", str(LLMJUDGE), "--max-grade", "3", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "wrote 4,423 graded pairs for 25 queries (grades 0: 2,258, 1: 1,274, 2: 504, 3: 387" in result.output
    pairs = read_graded_pairs(output)
    assert len(pairs) == 4423
    assert sum(p.score for p in pairs) == pytest.approx((1274 + 2 * 504 + 3 * 387) / 3)


def test_export_as_qrels_round_trips_through_import(tmp_path, cranfield):
    qrels = tmp_path / "qrels.txt"
    test_ids = set(cranfield.query_ids("test"))
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in cranfield.qrels.items() if q in test_ids
                             for d, g in docs.items()))
    labels, exported = tmp_path / "labels.jsonl", tmp_path / "exported.txt"
    assert runner.invoke(app, ["labels", "import", str(qrels), "-c", "cranfield", "--max-grade", "4",
                               "-o", str(labels)]).exit_code == 0
    result = runner.invoke(app, ["labels", "export", str(labels), "-c", "cranfield", "--max-grade", "4",
                                 "-o", str(exported)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"wrote {cranfield.subset('test').num_judgements():,} judgements for 75 queries" in result.output
    assert exported.read_text() == qrels.read_text()


def test_export_rounds_scores_half_up_and_needs_ids(tmp_path, cranfield):
    from bixse.collections import write_labels_as_qrels
    from bixse.collections.training_data import GradedPair
    from bixse.errors import InputError

    pairs = [GradedPair("q", "d", score, query_id="1", doc_id=doc) for score, doc in
             ((0.5, "184"), (0.49, "29"), (1 / 6, "31"), (1.0, "12"))]
    exported = write_labels_as_qrels(tmp_path / "q.txt", pairs, max_grade=3)
    assert (tmp_path / "q.txt").read_text() == "1 0 184 2\n1 0 29 1\n1 0 31 1\n1 0 12 3\n"
    assert (exported.written, exported.grade_counts, exported.num_queries) == (4, {1: 2, 2: 1, 3: 1}, 1)
    with pytest.raises(InputError, match="pair 2 has no doc_id") as error:
        write_labels_as_qrels(tmp_path / "x.txt", [pairs[0], GradedPair("q", "text only", 1.0, query_id="1")], 3)
    assert error.value.field == "doc_id"
    with pytest.raises(InputError, match="pair 2 repeats query '1', document '184'"):
        write_labels_as_qrels(tmp_path / "x.txt", [pairs[0], pairs[0]], 3)
    assert not (tmp_path / "x.txt").exists()
