"""One demo model: the shared training settings, a loss and a label file -> a model folder."""

from __future__ import annotations

from pathlib import Path

from bixse.demo.config import DemoConfig
from bixse.training import TrainConfig, train
from bixse.training.pipeline import check_output


def train_config(config: DemoConfig, loss: str, label_file: Path, folder: Path) -> TrainConfig:
    """Every loss gets the same base model, seed, steps, batch and learning-rate schedule.

    ``resume`` makes a rerun pick up a killed run at its last checkpoint and skip a finished one
    (the training module refuses to resume a run started with other settings).
    """
    return TrainConfig(model=config.base_model, data=str(label_file), collection=config.collection, loss=loss,
                       loss_params=dict(config.loss_params.get(loss, {})), max_candidates=config.max_candidates,
                       batch_size=config.batch_size,
                       learning_rate=config.learning_rate, warmup_ratio=config.warmup_ratio,
                       max_steps=config.max_steps, max_seq_length=config.max_seq_length, seed=config.seed,
                       precision=config.precision, output_dir=str(folder),
                       checkpoint_steps=max(config.max_steps // 2, 1), resume=True, eval_steps=0,
                       dev_split=None)


def train_or_reuse(config: DemoConfig, loss: str, label_file: Path, folder: Path) -> tuple[Path, bool]:
    """(model folder, whether an earlier run's finished model was reused)."""
    settings = train_config(config, loss, label_file, folder)
    _, finished = check_output(settings)
    return (folder if finished else train(settings)), finished
