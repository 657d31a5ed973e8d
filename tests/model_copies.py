"""Copies of test models with one setting changed, shared by the tests that compare two runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def without_dropout(model: Path, folder: Path) -> Path:
    """A copy of ``model`` with dropout off, so that two runs (one batch against mini-batches, one
    process against two) draw no different dropout masks and compare number for number."""
    shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder
