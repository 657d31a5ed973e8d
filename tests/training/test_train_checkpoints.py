"""Checkpoint bookkeeping without training: complete-checkpoint detection, log truncation, reruns."""

from __future__ import annotations

import json

import pytest
import torch

from bixse.errors import InputError
from bixse.training import TrainConfig, train
from bixse.training.callbacks import read_log, truncate_log
from bixse.training.pipeline import CONFIG_FILE, write_resolved_config
from bixse.training.precision import precision_arguments, resolve_training_precision
from bixse.training.trainer import CHECKPOINT_MARKER, last_complete_checkpoint, loss_own_state


def test_a_checkpoint_without_its_marker_is_not_resumed_from(tmp_path):
    for step, complete in ((4, True), (8, True), (12, False)):  # 12: killed while being written
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / CHECKPOINT_MARKER).write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-8"
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_log_keeps_only_steps_up_to_the_checkpoint(tmp_path):
    log = tmp_path / "training_log.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3, 4, 5)]
    log.write_text("\n".join(lines) + "\n" + '{"step": 6, "lo')  # the last line cut by a kill
    truncate_log(log, 4)
    assert [r["step"] for r in read_log(log)] == [1, 2, 3, 4]
    truncate_log(log, 0)  # a fresh start forgets everything
    assert read_log(log) == []


def test_loss_state_leaves_the_model_out():
    from bixse.losses import get_loss

    loss = get_loss("bixse", torch.nn.Linear(2, 2), bias=-1.5)
    state = loss_own_state(loss)
    assert list(state) == ["bias"] and state["bias"].item() == -1.5


def test_precision_resolution(monkeypatch):
    monkeypatch.setattr("bixse.training.precision.cpu_has_native_bf16", lambda: False)
    assert resolve_training_precision("auto", cuda=False) == "fp32"
    monkeypatch.setattr("bixse.training.precision.cpu_has_native_bf16", lambda: True)
    assert resolve_training_precision("auto", cuda=False) == "bf16"
    assert resolve_training_precision("bf16", cuda=False) == "bf16"
    assert precision_arguments("bf16", cuda=False) == {"bf16": True, "fp16": False, "use_cpu": True}
    with pytest.raises(InputError, match="fp16 training needs a GPU"):
        resolve_training_precision("fp16", cuda=False)


def test_resume_and_overwrite_exclude_each_other():
    with pytest.raises(InputError, match="give one of them"):
        TrainConfig(resume=True, overwrite=True)


def test_rerun_of_a_finished_run_with_resume_computes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("bixse.training.pipeline.run", lambda *a, **k: pytest.fail("trained again"))
    config = TrainConfig(loss="bixse", dev_split=None, output_dir=str(tmp_path / "out"))
    from bixse.training.pipeline import prepare

    prepared = prepare(config)
    write_resolved_config(prepared, world=1)
    (tmp_path / "out" / "modules.json").write_text("[]")  # the finished model
    assert train(config.replace(resume=True)) == tmp_path / "out"
    written = (tmp_path / "out" / CONFIG_FILE).read_text()
    assert "# training rows: 1017" in written and "loss: bixse" in written
