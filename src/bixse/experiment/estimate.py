"""What a grid will cost before it runs: each cell's training and evaluation time, roughly.

The rates are this project's measurements for all-MiniLM-L6-v2 on 2 AMD EPYC Zen 4 cores in
bf16 (``bixse demo``'s training steps; corpus encoding at 128 tokens). Once cells of the
experiment have finished, their measured times rescale the estimate, so it tracks the machine
it runs on; a larger model or a GPU shows up there after the first cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bixse.experiment.config import Cell, ExperimentConfig

SECONDS_PER_STEP = 1.1        # batch 32, one document per row, 64 tokens
DOCUMENTS_PER_SECOND = 120.0  # corpus encoding at 128 tokens
LIST_LAYOUTS = ("multi_positive", "scored_list")


@dataclass(frozen=True)
class CellEstimate:
    key: str
    grid: str
    status: str        # "done", "started" or "to do"
    train_s: float
    evaluate_s: float

    @property
    def total_s(self) -> float:
        return 0.0 if self.status == "done" else self.train_s + self.evaluate_s


def _slots(config: ExperimentConfig, cell: Cell) -> int:
    from bixse.losses import LOSSES

    if LOSSES[cell.loss.loss].layout in LIST_LAYOUTS:
        return int(config.training.get("max_candidates", 32))
    return 1 + int(config.training.get("hard_negatives", 0))


def _raw_estimate(config: ExperimentConfig, cell: Cell, corpus_sizes: dict[str, int]) -> tuple[float, float]:
    length = config.training.get("max_seq_length", 128) or 128
    per_step = SECONDS_PER_STEP * (cell.batch_size / 32) * (1 + _slots(config, cell)) / 2 * (length / 64)
    eval_length = config.evaluation.max_seq_length or 256
    documents = sum(corpus_sizes[target.collection] for target in cell.evaluation)
    return cell.max_steps * per_step, documents / DOCUMENTS_PER_SECOND * (eval_length / 128)


def estimate_cells(config: ExperimentConfig, cells: Sequence[Cell], corpus_sizes: dict[str, int],
                   output_dir: str | Path) -> list[CellEstimate]:
    """An estimate per cell, rescaled by the measured times of the experiment's finished cells."""
    import json

    output = Path(output_dir)
    raw = {cell.key: _raw_estimate(config, cell, corpus_sizes) for cell in cells}
    measured = {"train": [0.0, 0.0], "evaluate": [0.0, 0.0]}
    for cell in cells:
        result = output / "cells" / cell.key / "result.json"
        if result.is_file():
            timings = json.loads(result.read_text(encoding="utf-8"))["timings_s"]
            for index, part in enumerate(("train", "evaluate")):
                measured[part][0] += timings[part]
                measured[part][1] += raw[cell.key][index]
    scale = {part: (spent / guessed if guessed else 1.0) for part, (spent, guessed) in measured.items()}
    estimates = []
    for cell in cells:
        folder = output / "cells" / cell.key
        status = "done" if (folder / "result.json").is_file() else "started" if folder.is_dir() else "to do"
        train_s, evaluate_s = raw[cell.key]
        estimates.append(CellEstimate(cell.key, cell.grid, status, train_s * scale["train"],
                                      evaluate_s * scale["evaluate"]))
    return estimates
