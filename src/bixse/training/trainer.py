"""``SentenceTransformerTrainer`` plus what resuming a bixse loss needs: its own parameters.

sentence-transformers already optimises a loss's parameters (its optimizer is built from
``loss.named_parameters()``, which include the model's and, for BiXSE, the learnable bias), and
the optimizer state in a checkpoint covers them. Two gaps remain, closed here:

1. A checkpoint stores the model's weights but not the loss's: the bias would restart from its
   initial value on ``--resume``. ``loss_state.pt`` in each checkpoint holds the loss's own
   tensors, and resuming loads them.
2. A checkpoint folder is written file by file; a kill in the middle leaves one that
   ``get_last_checkpoint`` would pick. ``bixse-checkpoint.json``, written last (atomically),
   marks a complete checkpoint, and older checkpoints are rotated away only after it exists.

(Under DDP the loss's parameters live outside the wrapped model; the losses average their
gradients over ranks themselves, see ``bixse.losses.batch``.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from bixse.io import atomic_write

CHECKPOINT_MARKER = "bixse-checkpoint.json"
LOSS_STATE = "loss_state.pt"
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def loss_own_state(loss: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The loss's tensors, without the model it wraps (that is saved as the model)."""
    return {name: tensor.detach().cpu().clone() for name, tensor in checkpointed_loss(loss).state_dict().items()
            if not name.startswith("model.")}


def checkpointed_loss(loss: torch.nn.Module) -> torch.nn.Module:
    """The loss whose tensors ``loss_state.pt`` holds: a ``CachedLoss``'s wrapped loss, so that the
    keys (``bias``) do not depend on the mini-batch size and a run resumes with or without one."""
    from bixse.losses.cached import CachedLoss

    return loss.loss if isinstance(loss, CachedLoss) else loss


def loss_own_named_parameters(loss: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The loss's trainable parameters that are not the model's (BiXSE's bias), with their names."""
    return [(name, p) for name, p in loss.named_parameters() if not name.startswith("model.") and p.requires_grad]


def loss_own_parameters(loss: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for _, p in loss_own_named_parameters(loss)]


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest-step checkpoint under ``folder`` whose marker says it was fully written."""
    if not folder.is_dir():
        return None
    complete = [(int(match.group(1)), path) for path in folder.iterdir()
                if (match := _CHECKPOINT_NAME.match(path.name)) and (path / CHECKPOINT_MARKER).is_file()]
    return max(complete)[1] if complete else None


class BixseTrainer(SentenceTransformerTrainer):
    """The sentence-transformers trainer with resumable loss parameters (see the module docstring)."""

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # rotate only once this checkpoint is complete (below)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if not self.args.should_save:
            return
        run_dir = self._get_output_dir(trial=trial)
        folder = Path(run_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        with atomic_write(folder / LOSS_STATE, "wb") as handle:
            torch.save(loss_own_state(self.loss), handle)
        with atomic_write(folder / CHECKPOINT_MARKER) as handle:
            json.dump({"global_step": self.state.global_step, "epoch": self.state.epoch}, handle)
        rotate_checkpoints(output_dir=run_dir, save_total_limit=limit,
                           best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)

    def _load_from_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)
        state_file = Path(checkpoint_path) / LOSS_STATE
        if state_file.is_file():
            state = torch.load(state_file, map_location="cpu", weights_only=True)
            checkpointed_loss(self.loss).load_state_dict(state, strict=False)
