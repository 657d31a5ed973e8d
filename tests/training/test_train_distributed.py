"""``torchrun --nproc_per_node 2 -m bixse train``: data parallel on two CPU processes (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_copies import without_dropout
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]


def _losses(folder: Path) -> list[float]:
    records = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_of_3_train_like_one_process_of_6(tmp_path, tiny_model_path, toy_pairs_file, cli_env):
    model = without_dropout(tiny_model_path, tmp_path / "model")
    common = ["train", "--data", str(toy_pairs_file), "--model", str(model), "--loss", "bixse", "--max-steps", "3",
              "--learning-rate", "1e-3", "--warmup-ratio", "0", "--precision", "fp32", "--logging-steps", "1",
              "--dev-split", "none"]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "bixse"]
    result = subprocess.run([*torchrun, *common, "--batch-size", "3", "--output", str(ddp)], cwd=REPO, env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    result = subprocess.run([sys.executable, "-m", "bixse", *common, "--batch-size", "6", "--output", str(single)],
                            cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]

    # The sampler deals each global batch of 6 distinct queries as two chunks of 3, the loss gathers
    # them back and DDP averages the gradients: the same steps as one process with batch 6.
    assert _losses(ddp) == pytest.approx(_losses(single), rel=1e-5)
    trained_ddp, trained_single, base = (load_file(f / "model.safetensors") for f in (ddp, single, model))
    assert not torch.equal(trained_single["encoder.layer.0.attention.self.query.weight"],
                           base["encoder.layer.0.attention.self.query.weight"])
    for name in trained_single:
        torch.testing.assert_close(trained_ddp[name], trained_single[name], atol=1e-5, rtol=1e-4)

    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(ddp), device="cpu").encode(["a query"]).shape == (1, 32)
    assert "\nprocesses: 2\n" in (ddp / "bixse-train-config.yaml").read_text()
    assert "| devices | 2 |" in (ddp / "README.md").read_text()
    assert not (ddp / "checkpoints").exists()
