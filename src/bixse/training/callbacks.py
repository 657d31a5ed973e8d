"""Trainer callbacks: a progress bar that shows loss and learning rate, and the JSONL training log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers.trainer_callback import ProgressCallback, TrainerCallback

from bixse.io import atomic_write
from bixse.training.sampler import QueryBatchSampler


class LossProgressCallback(ProgressCallback):
    """The trainer's tqdm bar with the latest loss and learning rate as its postfix.

    Training logs update the postfix instead of printing a dict per logging step; evaluation
    scores are still printed, once each.
    """

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        shown = {}
        if "loss" in logs:
            shown["loss"] = f"{logs['loss']:.4f}"
        if "learning_rate" in logs:
            shown["lr"] = f"{logs['learning_rate']:.2e}"
        if shown:
            self.training_bar.set_postfix(shown, refresh=True)
        scores = {k: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)}
        if scores:
            self.training_bar.write(f"step {state.global_step}: " + ", ".join(
                f"{k[5:]} {v:.4f}" for k, v in scores.items() if not k.endswith(("_runtime", "_per_second"))))


class JsonlLogCallback(TrainerCallback):
    """Append every log event (training loss, learning rate, grad norm, dev scores) to a JSONL file.

    On resume the lines past the checkpoint's step are dropped first: they describe steps that
    are about to be recomputed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            truncate_log(self.path, state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **logs}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def truncate_log(path: Path, last_step: int) -> None:
    """Keep only the records of steps <= ``last_step`` (all of them gone when it is 0)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        if record.get("step", 0) <= last_step and last_step > 0:
            kept.append(line)
    with atomic_write(path) as handle:
        handle.write("".join(line + "\n" for line in kept))


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class SamplerEpochCallback(TrainerCallback):
    """Sets the epoch of the run's ``QueryBatchSampler`` as each epoch begins.

    The trainer's own ``set_epoch`` stops at accelerate's ``BatchSamplerShard`` when the
    sampler is wrapped in it and a resume wraps the loader again (``skip_first_batches``):
    a run resumed in epoch 1 on several processes would replay epoch 0's batches.
    """

    def on_epoch_begin(self, args: Any, state: Any, control: Any, train_dataloader: Any = None, **kwargs: Any) -> None:
        sampler = find_query_sampler(train_dataloader)
        if sampler is not None:
            sampler.set_epoch(int(state.epoch or 0))


def find_query_sampler(loader: Any, depth: int = 4) -> QueryBatchSampler | None:
    """The ``QueryBatchSampler`` under a data loader's chain of ``batch_sampler`` wrappers."""
    current = loader
    for _ in range(depth + 1):
        if isinstance(current, QueryBatchSampler):
            return current
        current = getattr(current, "batch_sampler", None)
        if current is None:
            return None
    return None
