"""A toy grid end to end: cells trained and evaluated, a SIGKILL and a resume ending with the same
numbers, two shards whose merged report equals the unsharded one, bad configs refused before work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bixse.errors import InputError
from bixse.experiment import load_experiment, run_experiment
from bixse.experiment.report import build_summary

from toy_experiment import toy_mapping, write_experiment

pytestmark = pytest.mark.slow

QUIET = {"log": lambda message: None}


def _numbers(output: Path) -> dict:
    """What a report concludes, without when and where it was made."""
    summary = build_summary(output, n_resamples=300)
    return {"arms": summary["arms"] and [{k: v for k, v in arm.items() if k != "cells"} for arm in summary["arms"]],
            "comparisons": summary["comparisons"], "references": summary["references"],
            "cells_finished": summary["cells_finished"]}


@pytest.fixture(scope="module")
def toy_run(toy_experiment_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("toy-run")
    run = run_experiment(load_experiment(toy_experiment_file), output, **QUIET)
    return output, run


def test_every_cell_trains_evaluates_and_cleans_up(toy_run):
    output, run = toy_run
    assert len(run.ran) == 8 and not run.skipped
    for key in run.ran:
        folder = output / "cells" / key
        result = json.loads((folder / "result.json").read_text())
        assert result["training"]["steps"] == 4
        learned = result["training"].get("learned_loss_parameters")
        if result["arm"]["loss"] == "bixse":  # the recipe's -15, barely moved at the encoder's rate
            assert learned.keys() == {"bias"} and 0 < abs(learned["bias"] + 15.0) < 0.001
        else:
            assert learned is None
        scores = result["evaluation"]["cranfield:dev"]
        assert scores["num_queries"] == 25 and set(scores["per_query"]) == {"nDCG@10", "R@100"}
        assert scores["aggregate"]["nDCG@10"] == pytest.approx(
            sum(scores["per_query"]["nDCG@10"].values()) / 25)
        assert (folder / "train-config.yaml").is_file()
        assert result["machine"]["gpu"] == "none" and result["machine"]["cpu"].endswith("cores")
        assert not (folder / "model").exists() and not (folder / "embeddings").exists()  # no --keep-models
    report = (output / "report" / "report.md").read_text()
    assert "8 of 8 cells finished" in report and "| base (no training) |" in report
    assert f"Cells ran on: {result['machine']['cpu']}, GPU none, torch {result['machine']['torch']} (8)." in report
    assert (output / "report" / "flip.png").read_bytes().startswith(b"\x89PNG")
    results = [json.loads((output / "cells" / key / "result.json").read_text()) for key in run.ran]
    biases = [r["training"]["learned_loss_parameters"]["bias"] for r in sorted(results, key=lambda r: r["seed"])
              if r["arm"]["loss"] == "bixse" and r["arm"]["transform"] == "none"]
    assert len(biases) == 2
    assert f"- bixse · human · none · b4 · n4: bias {biases[0]:.4f}, {biases[1]:.4f}" in report


def test_flipped_cells_train_on_the_same_flipped_labels_for_every_loss(toy_experiment_file, tmp_path):
    from bixse.experiment.runner import Collections, prepare, read_pairs
    from bixse.experiment.labels import transformed

    config = load_experiment(toy_experiment_file)
    cells = config.cells()
    files = prepare(config, cells, tmp_path, Collections())
    pairs = read_pairs(files["human"], Collections().get("cranfield", "labels"))
    flip_bixse, flip_infonce = [c for c in cells if c.transform.kind == "flip" and c.seed == 0]
    assert transformed(pairs, flip_bixse.transform, 0) == transformed(pairs, flip_infonce.transform, 0)
    assert len(pairs) == 125 * 4  # BM25 top 4 of every training query


def test_the_report_pairs_each_cell_with_infonce_on_the_same_labels(toy_run):
    output, _ = toy_run
    summary = build_summary(output, n_resamples=300)
    assert [c["arm"] for c in summary["comparisons"]] == ["bixse · human · none · b4 · n4",
                                                          "bixse · human · flip0.5 · b4 · n4"]
    for comparison in summary["comparisons"]:
        assert comparison["baseline"] == comparison["arm"].replace("bixse", "infonce", 1)
        assert comparison["seeds"] == [0, 1]
        pooled = comparison["scopes"]["pooled"]["nDCG@10"]
        low, high = pooled["ci"]
        assert low <= pooled["delta"] <= high
        assert pooled["boot_p_holm"] >= pooled["boot_p"] and pooled["rand_p_holm"] >= pooled["rand_p"]
    arm = summary["arms"][0]
    per_seed = [json.loads((output / path).read_text())["evaluation"]["cranfield:dev"]["aggregate"]["nDCG@10"]
                for path in arm["cells"]]
    assert arm["scores"]["pooled"]["nDCG@10"]["mean"] == pytest.approx(sum(per_seed) / 2)


def test_a_rerun_skips_finished_cells(toy_experiment_file, toy_run):
    output, _ = toy_run
    again = run_experiment(load_experiment(toy_experiment_file), output, **QUIET)
    assert not again.ran and len(again.skipped) == 8


def test_two_shards_merge_into_the_unsharded_report(toy_experiment_file, toy_run, tmp_path):
    output, _ = toy_run
    config = load_experiment(toy_experiment_file)
    first = run_experiment(config, tmp_path, shard=(1, 2), **QUIET)
    second = run_experiment(config, tmp_path, shard=(2, 2), **QUIET)
    assert len(first.ran) == len(second.ran) == 4 and not set(first.ran) & set(second.ran)
    assert _numbers(tmp_path) == _numbers(output)


def _killed_mid_training(experiment_file: Path, output: Path) -> str:
    """Start the CLI, SIGKILL it once some cell has a checkpoint, return that cell's key."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bixse", "experiment", "run", str(experiment_file), "-o",
                                str(output)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            checkpoints = list(output.glob("cells/*/model/checkpoints/checkpoint-2/trainer_state.json"))
            if checkpoints:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return checkpoints[0].parents[3].name
            if process.poll() is not None:
                pytest.fail("the experiment finished before it could be killed")
            time.sleep(0.05)
        pytest.fail("no checkpoint appeared")
    finally:
        if process.poll() is None:
            process.kill()


def test_a_killed_run_resumes_from_the_checkpoint_and_ends_with_the_same_numbers(toy_experiment_file, toy_run,
                                                                                  tmp_path):
    output, _ = toy_run
    killed = _killed_mid_training(toy_experiment_file, tmp_path)
    assert not (tmp_path / "cells" / killed / "result.json").exists()
    run = run_experiment(load_experiment(toy_experiment_file), tmp_path, keep_models=True, **QUIET)
    assert killed in run.ran
    log = [json.loads(line) for line in
           (tmp_path / "cells" / killed / "model" / "training_log.jsonl").read_text().splitlines()]
    steps = [record["step"] for record in log if "loss" in record]
    assert len(steps) == len(set(steps)), f"steps were trained twice: {steps}"  # resumed, not restarted
    assert _numbers(tmp_path) == _numbers(output)


def test_bad_configs_fail_before_any_training(tiny_model_path, tmp_path):
    cases = {
        "collection": ({"labels": {"human": {"collection": "no-such-collection", "split": "train"}}},
                       "labels.human.collection"),
        "split": ({"labels": {"human": {"collection": "cranfield", "split": "training"}}}, "labels.human.split"),
        "eval split": ({"evaluation": {"collections": ["cranfield:tset"]}}, "evaluation.collections (cranfield:tset)"),
        "leak": ({"evaluation": {"collections": ["cranfield:train"]}}, "grids.noise.evaluation"),
        "loss param": ({"grids": {"noise": {"loss": [{"loss": "bixse", "params": {"scael": 2}}, "infonce"],
                                            "labels": ["human"]}}}, "losses.bixse"),
        "loss rate": ({"grids": {"noise": {"loss": ["bixse", {"loss": "infonce", "loss_learning_rate": 0.1}],
                                           "labels": ["human"]}}}, "losses.infonce.loss_learning_rate"),
    }
    for name, (override, field) in cases.items():
        mapping = toy_mapping(tiny_model_path)
        for section, value in override.items():
            mapping[section] = {**mapping[section], **value} if isinstance(value, dict) else value
        path = write_experiment(tmp_path, mapping)
        with pytest.raises(InputError) as error:
            run_experiment(load_experiment(path), tmp_path / name, **QUIET)
        assert error.value.field == field, name
        assert not (tmp_path / name / "cells").exists(), name


def test_a_labels_file_naming_unknown_documents_fails_naming_the_line(tiny_model_path, tmp_path):
    qrels = tmp_path / "judge.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n1\t184\t2\n1\tnot-a-doc\t1\n", encoding="utf-8")
    mapping = toy_mapping(tiny_model_path)
    mapping["labels"] = {"human": {"qrels": str(qrels), "collection": "cranfield", "max_grade": 3}}
    with pytest.raises(InputError, match="not-a-doc") as error:
        run_experiment(load_experiment(write_experiment(tmp_path, mapping)), tmp_path / "out", **QUIET)
    assert error.value.path == str(qrels) and error.value.line == 3
    assert not (tmp_path / "out" / "cells").exists()


def test_a_judge_label_source_is_judged_once_through_the_cache(tiny_model_path, tmp_path):
    mapping = toy_mapping(tiny_model_path, loss=["bixse", "infonce"], transform=["none"], seed=[0])
    mapping["labels"] = {"human": {"judge": "dummy", "judge_options": {"calls_file": str(tmp_path / "calls.log")},
                                   "collection": "cranfield", "split": "train", "candidates": {"top_k": 2}}}
    mapping["evaluation"]["references"] = []
    path = write_experiment(tmp_path, mapping)
    first = run_experiment(load_experiment(path), tmp_path / "out", **QUIET)
    calls = [line for line in (tmp_path / "calls.log").read_text().splitlines() if line.startswith("call ")]
    assert len(first.ran) == 2 and len(calls) == 125 * 2  # every mined pair judged once, for both losses
    assert (tmp_path / "out" / "labels.sqlite").is_file()
    (tmp_path / "out" / "cells" / first.ran[0] / "result.json").unlink()  # one cell to redo
    again = run_experiment(load_experiment(path), tmp_path / "out", **QUIET)
    assert again.ran == [first.ran[0]]
    calls_after = [line for line in (tmp_path / "calls.log").read_text().splitlines() if line.startswith("call ")]
    assert len(calls_after) == len(calls)  # labels came from the file and the cache, not the judge
