"""Training precision: which autocast the trainer runs under, on the device it has.

``auto`` means bf16 on a GPU that supports it, fp16 on an older GPU; on a CPU, bf16 when the CPU
has native bf16 arithmetic (AVX512-BF16 or AMX), fp32 otherwise. On CPU, ``bf16`` runs the
forward pass under ``torch.autocast(bfloat16)`` (the trainer's ``bf16=True`` with ``use_cpu``);
master weights and optimizer state stay fp32.

Measured (bench/README.md, train section; 2-core AMD EPYC with AVX512-BF16, no AMX): one epoch
of BiXSE on Cranfield's train split ran at 0.49 steps/s in bf16 against 0.34 in fp32, and both
models scored the same dev nDCG@10 (0.4655 and 0.4661). On a CPU without native bf16, autocast
emulates it and is slower than fp32, hence the check.
"""

from __future__ import annotations

from typing import Any

import torch

from bixse.environment import cpu_has_native_bf16
from bixse.errors import InputError


def resolve_training_precision(precision: str, cuda: bool | None = None) -> str:
    """The concrete precision (fp32, bf16 or fp16) that ``precision`` means here."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and not cuda:
        raise InputError("fp16 training needs a GPU; on a CPU use bf16 (autocast) or fp32", field="precision")
    if precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"unknown precision '{precision}' (expected auto, fp32, bf16 or fp16)", field="precision")
    return precision


def precision_arguments(precision: str, cuda: bool | None = None) -> dict[str, Any]:
    """``SentenceTransformerTrainingArguments`` keywords for a concrete precision."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "use_cpu": not cuda}
