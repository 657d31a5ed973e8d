"""Every registered loss trains a tiny model through SentenceTransformerTrainer unchanged.

One batch of 8 rows in the common layout (query, document_0..2, label), 20 steps: the logged
training loss must fall. The BiXSE bias must move too, which shows that the trainer's optimizer
includes the loss's own parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bixse.losses import LOSSES, get_loss

STEPS = 20


def train_once(model, dataset, loss, output_dir: Path) -> list[float]:
    """Train ``STEPS`` steps of batch 8 on ``dataset``; return the logged training losses."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=8, max_steps=STEPS, learning_rate=2e-3,
        warmup_steps=0, lr_scheduler_type="constant", logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, seed=0, disable_tqdm=True, dataloader_drop_last=False,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.slow
def test_every_loss_lowers_its_training_loss(tiny_model_path: Path, tiny_training_dataset, tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    # One thread: on a busy 2-core machine, two OpenMP threads on this tiny model run ~10x slower.
    torch.set_num_threads(1)
    try:
        failures = train_every_loss(tiny_model_path, tiny_training_dataset, tmp_path)
    finally:
        torch.set_num_threads(threads)
    assert not failures, "\n".join(failures)


def train_every_loss(tiny_model_path: Path, dataset, tmp_path: Path) -> list[str]:
    import torch
    from sentence_transformers import SentenceTransformer

    assert len(dataset) == 8  # one batch: every step sees the same rows
    failures = []
    for name in sorted(n for n in LOSSES if not getattr(LOSSES[n], "needs_distributed", False)):
        torch.manual_seed(0)
        model = SentenceTransformer(str(tiny_model_path), device="cpu")
        loss = get_loss(name, model)
        bias_before = loss.bias.item() if name == "bixse" else None
        losses = train_once(model, dataset, loss, tmp_path / name)
        assert len(losses) == STEPS, name
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        print(f"{name}: mean of first 3 logged losses {first:.4f}, of last 3 {last:.4f}")  # shown with -s
        if not last < first:
            failures.append(f"{name}: first {first:.4f} -> last {last:.4f}: {losses}")
        if bias_before is not None and loss.bias.item() == bias_before:
            failures.append("bixse: the trainer did not update the loss's bias")
    return failures
