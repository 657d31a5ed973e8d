"""Training: fine-tune a bi-encoder with any bixse loss through ``SentenceTransformerTrainer``.

>>> from bixse.training import TrainConfig, train
>>> folder = train(TrainConfig(loss="bixse", epochs=3, output_dir="models/bixse"))   # doctest: +SKIP

Modules: ``config`` (TrainConfig, config files), ``sources`` (training file or qrels),
``dataset`` (rows in the one training layout), ``sampler`` (batches without repeated queries
or documents), ``trainer`` (resumable loss parameters), ``evaluator`` (dev nDCG@10),
``callbacks`` (progress bar, JSONL log), ``precision``, ``model_card`` and ``pipeline`` (train).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from bixse.training.config import TrainConfig, load_config, parse_loss_params

# torch and sentence-transformers load only when training is used, so the CLI starts fast.
_LAZY = {
    "BuiltDataset": "bixse.training.dataset", "build_rows": "bixse.training.dataset",
    "candidates_by_query": "bixse.training.dataset", "prepare": "bixse.training.pipeline",
    "run": "bixse.training.pipeline", "train": "bixse.training.pipeline",
    "QueryBatchSampler": "bixse.training.sampler", "compose_batches": "bixse.training.sampler",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bixse.training' has no attribute {name!r}")


__all__ = [
    "BuiltDataset", "QueryBatchSampler", "TrainConfig", "build_rows", "candidates_by_query",
    "compose_batches", "load_config", "parse_loss_params", "prepare", "run", "train",
]
