"""sentence-transformers' own training arguments, passed through from TrainConfig and `bixse train`:
gradient accumulation and checkpointing, the device, report_to, keeping the best checkpoint, and
pushing the saved folder to the hub (with the hub call replaced)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bixse.cli import app
from bixse.training import TrainConfig, train
from bixse.training.pipeline import _training_arguments, prepare


def _config(tmp_path, tiny_model_path, data, **changes) -> TrainConfig:
    settings = {"model": str(tiny_model_path), "data": str(data), "batch_size": 4, "max_steps": 2,
                "logging_steps": 1, "dev_split": None, "output_dir": str(tmp_path / "out")}
    return TrainConfig(**{**settings, **changes})


def test_settings_reach_the_training_arguments(tmp_path, tiny_model_path, toy_pairs_file):
    config = _config(tmp_path, tiny_model_path, toy_pairs_file, gradient_accumulation_steps=3,
                     gradient_checkpointing=True, device="cpu", dev_split="dev", eval_steps=2, checkpoint_steps=4,
                     load_best_model_at_end=True)
    args = _training_arguments(prepare(config), world=1)
    assert args.gradient_accumulation_steps == 3
    assert getattr(args, "activation_checkpointing", args.gradient_checkpointing) is True
    assert args.use_cpu and str(args.device) == "cpu"
    assert args.report_to in ("none", [], ["none"])
    assert (args.load_best_model_at_end, args.metric_for_best_model, args.greater_is_better) == (
        True, "eval_nDCG@10", True)
    defaults = _training_arguments(prepare(_config(tmp_path, tiny_model_path, toy_pairs_file)), world=1)
    assert (defaults.gradient_accumulation_steps, defaults.load_best_model_at_end) == (1, False)


def test_two_steps_with_accumulation_and_checkpointing_on_cpu(tmp_path, tiny_model_path, toy_pairs_file):
    folder = train(_config(tmp_path, tiny_model_path, toy_pairs_file, gradient_accumulation_steps=2,
                           gradient_checkpointing=True, device="cpu"))
    log = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    card = (folder / "README.md").read_text()
    assert "| gradient accumulation steps | 2 |" in card and "| device | cpu |" in card


def test_the_best_checkpoint_by_dev_ndcg_is_the_saved_model(tmp_path, tiny_model_path, toy_pairs_file):
    import torch
    from safetensors.torch import load_file

    folder = train(_config(tmp_path, tiny_model_path, toy_pairs_file, dev_split="dev", eval_steps=1,
                           checkpoint_steps=1, save_total_limit=0, load_best_model_at_end=True,
                           keep_checkpoints=True, learning_rate=1e-2))
    state = json.loads((folder / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    scores = {r["step"]: r["eval_nDCG@10"] for r in state["log_history"] if "eval_nDCG@10" in r and r["step"] > 0}
    best = max(scores, key=lambda step: (scores[step], -step))  # transformers keeps the first best
    assert state["best_global_step"] == best and state["best_metric"] == scores[best]
    saved = load_file(folder / "model.safetensors")
    kept = load_file(folder / "checkpoints" / f"checkpoint-{best}" / "model.safetensors")
    assert saved.keys() == kept.keys() and all(torch.equal(saved[k], kept[k]) for k in saved)
    assert f"The saved model is the checkpoint of step {best}, the best by dev nDCG@10" in (
        folder / "README.md").read_text()


def test_push_to_hub_uploads_the_saved_folder(tmp_path, tiny_model_path, toy_pairs_file, monkeypatch):
    from huggingface_hub import constants
    from sentence_transformers import SentenceTransformer

    pushed = []

    def fake_push(model, repo_id, **options):
        folder = tmp_path / "out"
        pushed.append((repo_id, options, sorted(p.name for p in folder.iterdir())))
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(SentenceTransformer, "push_to_hub", fake_push)
    train(_config(tmp_path, tiny_model_path, toy_pairs_file, max_steps=1, push_to_hub="me/bixse-tiny"))
    [(repo, options, files)] = pushed
    assert repo == "me/bixse-tiny" and options["local_model_path"] == str(tmp_path / "out")
    assert {"README.md", "modules.json", "bixse-train-config.yaml", "training_log.jsonl"} <= set(files)
    assert "checkpoints" not in files


def test_cli_options_set_the_fields(tmp_path, monkeypatch):
    seen = {}

    def fake_train(config, dataset=None):
        seen["config"] = config
        return tmp_path / "out"

    monkeypatch.setattr("bixse.training.pipeline.train", fake_train)
    result = CliRunner().invoke(app, ["train", "--gradient-accumulation-steps", "4", "--gradient-checkpointing",
                                      "--device", "cpu", "--report-to", "none", "--eval-steps", "5",
                                      "--checkpoint-steps", "10", "--load-best-model-at-end",
                                      "--push-to-hub", "me/model", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.gradient_accumulation_steps, config.gradient_checkpointing, config.device, config.report_to,
            config.load_best_model_at_end, config.push_to_hub) == (4, True, "cpu", "none", True, "me/model")
