"""`bixse eval` and `bixse search` through the real command line."""

import json

from typer.testing import CliRunner

from bixse.cli import app
from bixse.collections import write_trec_qrels

runner = CliRunner()


def test_eval_models_then_eval_the_written_runs(tiny_model_path, cranfield, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "-m", "bm25", "-m", str(tiny_model_path), "--split", "dev",
                                 "-o", str(out), "--cache-dir", str(tmp_path / "cache"), "--resamples", "300",
                                 "--relevance-threshold", "2"])
    assert result.exit_code == 0, result.output
    assert "bm25 (baseline)" in result.output and "grade >= 2" in result.output
    record = json.loads((out / "results.json").read_text())
    assert record["relevance_threshold"] == 2 and record["settings"]["split"] == "dev"
    assert [m["name"] for m in record["models"]] == ["bm25", "tiny-bert"]

    rescored = runner.invoke(app, ["eval", "--run", str(out / "runs" / "bm25.trec"), "--split", "dev",
                                   "--relevance-threshold", "2", "--resamples", "300"])
    assert rescored.exit_code == 0, rescored.output
    bm25_ndcg = next(m for m in record["models"] if m["name"] == "bm25")["aggregate"]["nDCG@10"]
    assert f"{bm25_ndcg:.3f}" in rescored.output

    write_trec_qrels(tmp_path / "dev.qrels", cranfield.subset("dev").qrels)
    from_files = runner.invoke(app, ["eval", "--run", str(out / "runs" / "bm25.trec"), "--run",
                                     str(out / "runs" / "tiny-bert.trec"), "--qrels", str(tmp_path / "dev.qrels"),
                                     "--relevance-threshold", "2", "--resamples", "300", "-o", str(tmp_path / "files")])
    assert from_files.exit_code == 0, from_files.output
    files_record = json.loads((tmp_path / "files" / "results.json").read_text())
    for model in record["models"]:
        rescored_model = next(m for m in files_record["models"] if m["name"] == model["name"])
        for measure, value in model["aggregate"].items():
            assert abs(rescored_model["aggregate"][measure] - value) < 1e-6  # TREC files round scores to 1e-6


def test_search_prints_hits_with_titles():
    result = runner.invoke(app, ["search", "-m", "bm25", "-k", "3", "boundary layer transition"])
    assert result.exit_code == 0, result.output
    assert "transition in a separated laminar boundary layer" in result.output
    assert result.output.count("\n│") >= 3


def test_eval_without_models_is_an_input_error():
    result = runner.invoke(app, ["eval"])
    assert result.exit_code != 0 and "nothing to evaluate" in str(result.exception)
