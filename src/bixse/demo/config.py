"""The demo's settings: one dataclass, two presets (2 CPU cores; one GPU), overridable one by one."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bixse.models import DEFAULT_MODEL
from bixse.training.config import RECIPE_LOSS_PARAMS, TrainConfig

LABEL_SOURCES = ("human", "judge")


@dataclass(frozen=True)
class DemoConfig:
    """Everything ``bixse demo`` does, in one place (recorded in the report).

    The CPU preset fits 2 cores and about 15 minutes (8 measured on an uncontended 2-core AMD
    EPYC): BM25 top-20 candidates for the 125 training queries, labelled by the human grades and
    by the teacher judge, then each loss trained for the same number of steps from the same base
    model and seed, with `bixse train`'s recipe (RECIPE_LOSS_PARAMS).
    """

    output_dir: Path = Path("bixse-demo")
    collection: str = "cranfield"
    base_model: str = DEFAULT_MODEL
    losses: tuple[str, ...] = ("bixse", "infonce", "lsepair")
    baseline_loss: str = "infonce"
    label_sources: tuple[str, ...] = LABEL_SOURCES
    # Mining: which pairs get labels.
    miner: str = "bm25"
    candidates_per_query: int = 20
    max_train_queries: int | None = None
    # The judge that labels the candidates a second time (see bixse.judging.get_judge).
    judge: str = "bi-encoder"
    judge_options: dict[str, Any] = field(default_factory=lambda: {"model": "all-MiniLM-L6-v2"})
    # Training: identical for every loss and label source.
    # 30 steps of 32 queries: 960 of the 2,500 labelled pairs; 35-60 s per model on 2 cores.
    max_steps: int = 30
    batch_size: int = 32
    learning_rate: float = TrainConfig.learning_rate
    warmup_ratio: float = 0.1
    max_seq_length: int = 64
    # Candidates per row for the multi-positive losses (each costs an encoder pass per step).
    max_candidates: int = 3
    # auto: bf16 autocast on a GPU or a CPU with native bf16 (AVX512-BF16/AMX), else fp32.
    precision: str = "auto"
    seed: int = 250806781
    # `bixse train`'s recipe: BiXSE starts its logit offset at -15 (with b = 0 every in-batch
    # negative starts at sigmoid(20 cos) ~ 1 and its gradient swamps the labelled pairs); the
    # multi-positive losses score 20 * cos like InfoNCE, not the authors' unscaled dot product.
    loss_params: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(RECIPE_LOSS_PARAMS))
    # Evaluation.
    eval_split: str = "test"
    # auto: fp16 on a GPU; on a CPU bf16 where it is native (1.9x faster than fp32 on an
    # AVX512-BF16 CPU, nDCG@10 within 0.002: bench/README.md), else fp32.
    eval_precision: str = "auto"
    n_resamples: int = 10_000

    def with_overrides(self, **overrides: Any) -> DemoConfig:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{key: value for key, value in overrides.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["output_dir"] = str(self.output_dir)
        return record


def resolve_eval_precision(precision: str) -> str:
    """The encoding precision ``precision`` means here (``auto`` prefers native bf16 on a CPU)."""
    from bixse.retrieval import resolve_precision

    return resolve_precision(precision)


PRESETS: dict[str, DemoConfig] = {
    "cpu": DemoConfig(),
    # One GPU: a stronger teacher, longer training, larger batches (more in-batch negatives).
    "gpu": DemoConfig(max_steps=400, batch_size=64, max_seq_length=256, precision="auto", max_candidates=16,
                      eval_precision="auto", candidates_per_query=30,
                      judge_options={"model": "all-mpnet-base-v2"},
                      losses=("bixse", "infonce", "lsepair", "jointlh", "summarglh", "rand1lh", "mw_auc")),
}
