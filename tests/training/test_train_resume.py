"""SIGKILL a training run after its first checkpoint, resume it, and get the uninterrupted run's weights."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bixse.training.trainer import CHECKPOINT_MARKER, LOSS_STATE

REPO = Path(__file__).resolve().parents[2]


def _args(data: Path, model: Path, output: Path) -> list[str]:
    # 18 rows (6 queries x 3), batch 6: 3 batches an epoch, so the checkpoint at step 4 lies
    # inside epoch 1 and the resumed run must replay epoch 1's order from its second batch on.
    return ["train", "--data", str(data), "--model", str(model), "--loss", "bixse", "--max-steps", "12",
            "--checkpoint-steps", "4", "--batch-size", "6", "--hard-negatives", "1", "--seed", "3",
            "--learning-rate", "1e-3", "--precision", "fp32", "--dev-split", "none", "--logging-steps", "1", "--keep-checkpoints",
            "--save-total-limit", "1", "--output", str(output)]


def _logged_losses(folder: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert len(steps) == len(set(steps)), "a step was logged twice"
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "training ended before its first checkpoint was seen"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_equals_uninterrupted_run(tmp_path, tiny_model_path, toy_pairs_file,
                                                                       bixse_cli, cli_env):
    full, killed = tmp_path / "full", tmp_path / "killed"
    result = bixse_cli(*_args(toy_pairs_file, tiny_model_path, full))
    assert result.returncode == 0, result.stderr[-3000:]

    process = subprocess.Popen([sys.executable, "-m", "bixse", *_args(toy_pairs_file, tiny_model_path, killed)],
                               cwd=REPO, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(killed / "checkpoints" / "checkpoint-4" / CHECKPOINT_MARKER, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "modules.json").exists(), "the run finished before the kill: nothing was tested"

    result = bixse_cli(*_args(toy_pairs_file, tiny_model_path, killed), "--resume")
    assert result.returncode == 0, result.stderr[-3000:]

    state = json.loads((killed / "checkpoints" / "checkpoint-12" / "trainer_state.json").read_text())
    assert state["global_step"] == 12
    expected, resumed = load_file(full / "model.safetensors"), load_file(killed / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    # the loss's learnable bias was checkpointed, restored and trained on identically
    bias = [torch.load(folder / "checkpoints" / "checkpoint-12" / LOSS_STATE)["bias"] for folder in (full, killed)]
    assert torch.equal(*bias) and bias[0].item() != 0.0
    # the log holds each step once (lines past checkpoint-4 from the killed run were dropped)
    assert _logged_losses(killed) == _logged_losses(full)
    assert sorted(_logged_losses(full)) == list(range(1, 13))
