"""A toy experiment: a tiny model, Cranfield's training grades, two losses, two seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def toy_mapping(model: Path, **grid: Any) -> dict[str, Any]:
    return {
        "name": "toy",
        "model": str(model),
        "training": {"max_seq_length": 32, "precision": "fp32", "checkpoint_steps": 2, "batch_size": 4,
                     "max_steps": 4, "max_candidates": 3},
        "evaluation": {"collections": ["cranfield:dev"], "measures": ["nDCG@10", "R@100"], "max_seq_length": 32,
                       "precision": "fp32", "references": ["base"]},
        "baseline": "infonce",
        "labels": {"human": {"collection": "cranfield", "split": "train", "candidates": {"top_k": 4}}},
        "grids": {"noise": {"loss": ["bixse", "infonce"], "labels": ["human"],
                            "transform": ["none", {"flip": 0.5}], "seed": [0, 1], **grid}},
    }


def write_experiment(folder: Path, mapping: dict[str, Any]) -> Path:
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return path
