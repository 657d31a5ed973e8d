"""``torchrun --nproc_per_node 2 -m bixse train``: data parallel on two CPU processes (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.distributed
def test_torchrun_two_processes_trains_and_writes_a_model(tmp_path, tiny_model_path, toy_pairs_file, cli_env):
    output = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "bixse", "train", "--data", str(toy_pairs_file), "--model", str(tiny_model_path),
               "--loss", "bixse", "--batch-size", "3", "--max-steps", "4", "--logging-steps", "1",
               "--dev-split", "none", "--output", str(output)]
    result = subprocess.run(command, cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(output), device="cpu")
    assert model.encode(["a query"]).shape == (1, 32)
    assert "# processes: 2" in (output / "bixse-train-config.yaml").read_text()
    steps = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if "loss" in r] == [1, 2, 3, 4]  # logged once, by rank 0
    # 18 rows in global batches of 2 x 3 distinct queries: 3 steps an epoch
    assert steps[-1]["epoch"] == pytest.approx(4 / 3, abs=1e-3)
    assert "| devices | 2 |" in (output / "README.md").read_text()
    assert not (output / "checkpoints").exists()
