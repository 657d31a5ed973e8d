"""``bixse train --mini-batch-size``: GradCache training gives the weights of plain training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from model_copies import without_dropout

from bixse.cli import app
from bixse.errors import InputError
from bixse.training import TrainConfig, train
from bixse.training.pipeline import CONFIG_FILE


def trained_bias(folder: Path) -> float:
    return float((folder / "README.md").read_text().split("bias: ")[1].split()[0])


def losses(folder: Path) -> list[float]:
    records = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def assert_same_weights(folder: Path, reference: Path) -> None:
    got, expected = load_file(folder / "model.safetensors"), load_file(reference / "model.safetensors")
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5, msg=name)


@pytest.fixture()
def common(tmp_path: Path, tiny_model_path: Path, toy_pairs_file: Path) -> dict:
    model = without_dropout(tiny_model_path, tmp_path / "model")
    return {"model": str(model), "data": str(toy_pairs_file), "loss": "bixse", "batch_size": 4, "max_steps": 2,
            "learning_rate": 1e-3, "loss_learning_rate": 0.05, "warmup_ratio": 0.0, "precision": "fp32",
            "dev_split": None, "logging_steps": 1}


@pytest.mark.slow
def test_mini_batches_train_the_same_weights(tmp_path: Path, common: dict) -> None:
    plain = train(TrainConfig(output_dir=str(tmp_path / "plain"), **common))
    cached = train(TrainConfig(mini_batch_size=2, output_dir=str(tmp_path / "cached"), **common))
    base = load_file(Path(common["model"]) / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(load_file(plain / "model.safetensors")[name], base[name])  # it trained
    assert_same_weights(cached, plain)
    assert losses(cached) == pytest.approx(losses(plain), abs=1e-5)
    assert trained_bias(cached) == pytest.approx(trained_bias(plain), abs=1e-5)
    assert trained_bias(plain) != pytest.approx(-15.0, abs=1e-3)  # the bias trained (recipe start -15)

    card = (cached / "README.md").read_text()
    assert "| embedding mini-batch (GradCache) | 2 |" in card and "(`CachedLoss`)" in card
    assert "mini_batch_size: 2" in card and "2101.06983" in card
    assert "mini_batch_size: 2" in (cached / CONFIG_FILE).read_text()
    assert "| embedding mini-batch (GradCache) | off (whole batch) |" in (plain / "README.md").read_text()


@pytest.mark.slow
def test_a_plain_run_resumes_with_mini_batches(tmp_path: Path, common: dict) -> None:
    """mini_batch_size does not define the run: a checkpoint of a plain run resumes cached, bias included."""
    settings = {**common, "checkpoint_steps": 1, "keep_checkpoints": True}
    full = train(TrainConfig(output_dir=str(tmp_path / "full"), **settings))
    interrupted = tmp_path / "interrupted"
    shutil.copytree(full, interrupted)
    # As if killed after the first checkpoint: no final model, no second checkpoint.
    shutil.rmtree(interrupted / "checkpoints" / "checkpoint-2")
    (interrupted / "modules.json").unlink()
    resumed = train(TrainConfig(output_dir=str(interrupted), resume=True, mini_batch_size=2, **settings))
    assert_same_weights(resumed, full)
    assert trained_bias(resumed) == pytest.approx(trained_bias(full), abs=1e-5)


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "2"])
def test_a_bad_mini_batch_size_is_rejected(value) -> None:
    with pytest.raises(InputError) as error:
        TrainConfig(mini_batch_size=value)
    assert error.value.field == "mini_batch_size"


def test_a_mini_batch_larger_than_the_batch_fails_before_any_model_loads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("bixse.training.pipeline.run", lambda *a, **k: pytest.fail("reached the run"))
    monkeypatch.setattr("bixse.training.pipeline.check_model", lambda *a, **k: pytest.fail("checked the model"))
    with pytest.raises(InputError, match=r"larger than batch_size \(4\)") as error:
        train(TrainConfig(batch_size=4, mini_batch_size=8, output_dir=str(tmp_path / "out")))
    assert error.value.field == "mini_batch_size"
    assert TrainConfig(batch_size=4, mini_batch_size=4).mini_batch_size == 4  # the whole batch: allowed

    result = CliRunner().invoke(app, ["train", "-b", "4", "--mini-batch-size", "8", "--model", "no/such-model",
                                      "-o", str(tmp_path / "cli")])
    assert result.exit_code != 0 and "mini_batch_size" in str(result.exception or result.output)
    assert not (tmp_path / "cli").exists()


def test_mini_batch_size_is_not_run_defining() -> None:
    config = TrainConfig(batch_size=8)
    assert config.differing_run_fields(config.replace(mini_batch_size=2)) == []


@pytest.mark.slow
@pytest.mark.distributed
def test_two_cached_processes_train_like_one_plain_process(tmp_path: Path, tiny_model_path: Path,
                                                          toy_pairs_file: Path, cli_env: dict) -> None:
    """torchrun: 2 ranks of 3 rows in mini-batches of 2 (DDP replays them, the bias all-reduces) give
    the weights of one plain process on 6 rows."""
    import subprocess
    import sys

    model = without_dropout(tiny_model_path, tmp_path / "model")
    common = ["train", "--data", str(toy_pairs_file), "--model", str(model), "--loss", "bixse", "--max-steps", "2",
              "--learning-rate", "1e-3", "--loss-learning-rate", "0.05", "--warmup-ratio", "0", "--precision",
              "fp32", "--logging-steps", "1", "--dev-split", "none"]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "bixse"]
    repo = Path(__file__).resolve().parents[2]
    for command in ([*torchrun, *common, "--batch-size", "3", "--mini-batch-size", "2", "--output", str(ddp)],
                    [sys.executable, "-m", "bixse", *common, "--batch-size", "6", "--output", str(single)]):
        result = subprocess.run(command, cwd=repo, env=cli_env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-4000:]
    assert_same_weights(ddp, single)
    assert trained_bias(ddp) == pytest.approx(trained_bias(single), abs=1e-5)
    assert losses(ddp) == pytest.approx(losses(single), abs=1e-5)


def test_one_step_with_warmup_trains(tmp_path: Path, common: dict) -> None:
    """``--max-steps 1`` with the default warmup ratio changes the weights: no step at learning rate 0."""
    from bixse.training.pipeline import warmup_steps

    settings = {**common, "max_steps": 1, "warmup_ratio": 0.1}
    assert warmup_steps(TrainConfig(**settings)) == 0
    assert warmup_steps(TrainConfig(**{**settings, "max_steps": 100})) == 10
    assert warmup_steps(TrainConfig(**{**settings, "max_steps": None, "epochs": 1})) == 0.1
    folder = train(TrainConfig(output_dir=str(tmp_path / "one"), **settings))
    base = load_file(Path(common["model"]) / "model.safetensors")
    trained = load_file(folder / "model.safetensors")
    assert any(not torch.equal(trained[name], base[name]) for name in base)
    records = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    assert [r["learning_rate"] for r in records if "learning_rate" in r][0] > 0
