"""Training precision: which autocast the trainer runs under, on the device it has.

``auto`` means bf16 on a GPU that supports it, fp16 on an older GPU, and fp32 on a CPU.
On CPU, ``bf16`` runs the forward pass under ``torch.autocast(bfloat16)`` (the trainer's
``bf16=True`` with ``use_cpu``); master weights and optimizer state stay fp32. The CPU default
is fp32 because of measurement, not principle: see bench/README.md (train section).
"""

from __future__ import annotations

from typing import Any

import torch

from bixse.errors import InputError


def resolve_training_precision(precision: str, cuda: bool | None = None) -> str:
    """The concrete precision (fp32, bf16 or fp16) that ``precision`` means here."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise InputError("fp16 training needs a GPU; on a CPU use bf16 (autocast) or fp32", field="precision")
    if precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"unknown precision '{precision}' (expected auto, fp32, bf16 or fp16)", field="precision")
    return precision


def precision_arguments(precision: str, cuda: bool | None = None) -> dict[str, Any]:
    """``SentenceTransformerTrainingArguments`` keywords for a concrete precision."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "use_cpu": not cuda}
