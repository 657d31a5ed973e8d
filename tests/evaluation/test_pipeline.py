"""End to end: models on a Cranfield split -> runs, scores, comparison, report files; scoring
the written run files again gives the same numbers."""

import json

import pytest
from sentence_transformers import SentenceTransformer

from bixse.collections import read_trec_run, write_trec_qrels
from bixse.errors import InputError
from bixse.evaluation import evaluate_model, evaluate_models, evaluate_run, evaluate_run_files
from bixse.evaluation.pipeline import depth_needed


def test_evaluate_model_accepts_a_loaded_model(tiny_model, cranfield, tmp_path, monkeypatch):
    monkeypatch.setenv("BIXSE_CACHE", str(tmp_path))
    result = evaluate_model(tiny_model, cranfield, "dev", show_progress=False)
    assert result.num_queries == 25 and set(result.aggregate) == {"nDCG@10", "MRR@10", "R@100", "MAP"}
    assert all(0.0 <= value <= 1.0 for value in result.aggregate.values())
    assert not (tmp_path / "embeddings").exists()  # a model object is not cached by default


def test_evaluate_models_writes_runs_and_reports(tiny_model_path, cranfield, tmp_path):
    comparison = evaluate_models(["bm25", str(tiny_model_path)], cranfield, "test", output_dir=tmp_path / "out",
                                 cache_dir=tmp_path / "cache", n_resamples=500, show_progress=False,
                                 precision="fp32")  # the run file's 6 decimals tie bf16's near-equal scores
    assert comparison.names == ["bm25", "tiny-bert"] and comparison.baseline == "bm25"
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "chart.png").is_file()
    settings = json.loads((tmp_path / "out" / "results.json").read_text())["settings"]
    assert settings["precision"] == "fp32" and settings["search"] == "exact"
    run = read_trec_run(tmp_path / "out" / "runs" / "tiny-bert.trec")
    assert len(run) == 75 and all(len(docs) == 100 for docs in run.values())
    test_qrels = cranfield.subset("test").qrels
    assert evaluate_run(run, test_qrels).aggregate == pytest.approx(comparison.result("tiny-bert").aggregate)
    # BM25 clearly beats random 32-d vectors on Cranfield.
    assert comparison.test("tiny-bert", "nDCG@10").delta < 0 and comparison.test("tiny-bert", "nDCG@10").significant()

    write_trec_qrels(tmp_path / "qrels.txt", test_qrels)
    rescored = evaluate_run_files([tmp_path / "out" / "runs" / "bm25.trec", tmp_path / "out" / "runs" / "tiny-bert.trec"],
                                  tmp_path / "qrels.txt", n_resamples=500)
    for name in ("bm25", "tiny-bert"):
        assert rescored.result(name).aggregate == pytest.approx(comparison.result(name).aggregate, abs=1e-6)


def test_depth_covers_the_deepest_cutoff_and_bad_splits_are_input_errors(cranfield):
    assert depth_needed(["nDCG@10", "MAP"]) == 100 and depth_needed(["R@1000"]) == 1000
    with pytest.raises(InputError, match="no split 'validation'"):
        evaluate_model("bm25", cranfield, "validation")
    with pytest.raises(InputError, match="run file does not exist"):
        evaluate_run_files(["missing.trec"], {"q": {"d": 1}})


def test_model_object_and_its_saved_folder_score_the_same(tiny_model, cranfield, tmp_path):
    tiny_model.save(str(tmp_path / "saved"))
    in_memory = evaluate_model(tiny_model, cranfield, "dev", show_progress=False)
    from_disk = evaluate_model(str(tmp_path / "saved"), cranfield, "dev", cache_dir=tmp_path / "c",
                               show_progress=False)
    assert in_memory.aggregate == pytest.approx(from_disk.aggregate, abs=1e-6)
    assert isinstance(SentenceTransformer, type)


@pytest.mark.parametrize(("options", "field"), [
    ({"baseline": "nope"}, "baseline"),
    ({"ndcg_gain": "cubic"}, "ndcg_gain"),
    ({"measures": ["nDCG@10", "nDCG@10"]}, "measures"),
    ({"search": "ivf"}, "search"),
    ({"precision": "fp64"}, "precision"),
    ({"models": ["bm25", "./no-such-model"]}, "model"),
    ({"output_dir": "taken.txt"}, "output"),
])
def test_evaluate_models_checks_every_option_before_retrieving(cranfield, tmp_path, monkeypatch, options, field):
    def refuse(*args, **kwargs):
        raise AssertionError("retrieval started although an option was invalid")

    monkeypatch.setattr("bixse.retrieval.get_retriever", refuse)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.txt").write_text("a file")
    models = options.pop("models", ["bm25", "default"])
    with pytest.raises(InputError) as error:
        evaluate_models(models, cranfield, "test", **options)
    assert error.value.field == field


def test_evaluate_run_files_checks_every_option_before_scoring(tmp_path):
    run = tmp_path / "a.trec"
    run.write_text("1 Q0 184 1 1.0 tag\n")
    qrels = {"1": {"184": 1}}
    for options, field in (({"baseline": "b"}, "baseline"), ({"ndcg_gain": "cubic"}, "ndcg_gain"),
                           ({"output_dir": run}, "output")):
        with pytest.raises(InputError) as error:
            evaluate_run_files([run], qrels, **options)
        assert error.value.field == field
