"""The trained model's README.md: base model, data, labels' source, loss, hyperparameters, scores."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import bixse


@dataclass
class CardFacts:
    """What the card states; gathered by ``bixse.training.pipeline`` during the run."""

    config: dict[str, Any]
    base_model: str
    data_origin: str
    data_kind: str
    num_labels: int
    num_queries: int
    label_sources: dict[str, int]
    layout: str
    num_rows: int
    slots: int
    dropped_queries: int
    loss_class: str
    loss_params: dict[str, Any]
    loss_params_configured: dict[str, Any]
    loss_citation: str
    precision: str
    world_size: int
    device: str
    global_step: int
    runtime_s: float
    dev: str | None = None
    dev_scores: list[dict[str, Any]] = field(default_factory=list)
    best_step: int | None = None     # load_best_model_at_end: the step whose checkpoint was saved


def _table(rows: list[tuple[str, Any]]) -> str:
    lines = ["| setting | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def _scores_table(scores: list[dict[str, Any]]) -> str:
    measures = [k for k in scores[0] if k not in ("step", "epoch")]
    lines = ["| step | " + " | ".join(measures) + " |", "|---" * (len(measures) + 1) + "|"]
    for row in scores:
        label = "base model" if row["step"] == 0 else str(row["step"])
        lines.append(f"| {label} | " + " | ".join(f"{row[m]:.4f}" for m in measures) + " |")
    return "\n".join(lines)


def render_card(facts: CardFacts, model_folder: Path) -> str:
    import sentence_transformers
    import torch
    import transformers

    cfg = facts.config
    front = {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity",
             "tags": ["sentence-transformers", "dense-retrieval", "bixse", f"loss:{cfg['loss']}"],
             "base_model": facts.base_model}
    sources = ", ".join(f"{source}: {count}" for source, count in facts.label_sources.items()) or "unstated"
    budget = f"{cfg['max_steps']} steps" if cfg["max_steps"] else f"{cfg['epochs']} epochs"
    hyper = [("batch size (per device)", cfg["batch_size"]),
             ("gradient accumulation steps", cfg.get("gradient_accumulation_steps", 1)),
             ("embedding mini-batch (GradCache)", cfg.get("mini_batch_size") or "off (whole batch)"),
             ("devices", facts.world_size),
             ("learning rate", cfg["learning_rate"]),
             ("learning rate of the loss's own parameters", cfg["loss_learning_rate"] or cfg["learning_rate"]),
             ("warm-up ratio", cfg["warmup_ratio"]),
             ("weight decay", cfg["weight_decay"]), ("budget", budget), ("optimizer steps", facts.global_step),
             ("max sequence length (training)", cfg["max_seq_length"] or "model's own"), ("seed", cfg["seed"]),
             ("precision", facts.precision), ("device", facts.device),
             ("training time", f"{facts.runtime_s:.0f} s")]
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---",
        f"# {model_folder.name}",
        f"A bi-encoder fine-tuned from `{facts.base_model}` with the **{cfg['loss']}** loss by "
        f"[bixse](https://arxiv.org/abs/2508.06781) {bixse.__version__}. It loads as a plain "
        "sentence-transformers model.",
        "```python\nfrom sentence_transformers import SentenceTransformer\n\n"
        f"model = SentenceTransformer({str(model_folder)!r})\n"
        "embeddings = model.encode_query([\"what is a shock wave\"])\n```",
        "## Training data",
        f"- source: {facts.data_origin}\n- {facts.data_kind}: {facts.num_labels} labels over "
        f"{facts.num_queries} queries\n- labels' source: {sources}\n"
        f"- training rows: {facts.num_rows} (layout `{facts.layout}`, {facts.slots} document slot(s) per row, "
        f"hard negatives per row: {cfg['hard_negatives'] if facts.layout in ('pointwise', 'contrastive') else 'n/a'}, "
        f"positive threshold {cfg['loss_params'].get('positive_threshold', cfg['positive_threshold'])})"
        + (f"\n- queries left out (no usable label for this loss): {facts.dropped_queries}"
           if facts.dropped_queries else "")
        + "\n- batches (bixse QueryBatchSampler): one labelled pair per query, no repeated document, and no "
        "document labelled relevant to another query of the batch (relaxed only to fill half a batch)",
        "## Loss",
        f"`{cfg['loss']}` (`{facts.loss_class}`), configured with "
        f"`{facts.loss_params_configured or 'its defaults'}`; its parameters at the end of training:\n\n```yaml\n"
        + yaml.safe_dump(facts.loss_params, sort_keys=False).strip() + "\n```",
        "## Hyperparameters",
        _table(hyper),
    ]
    if facts.dev_scores:
        best = ("" if facts.best_step is None else f"\n\nThe saved model is the checkpoint of step "
                f"{facts.best_step}, the best by dev nDCG@10 (load_best_model_at_end).")
        parts += ["## Dev scores", f"{facts.dev}, after the optimizer step shown:\n\n"
                  + _scores_table(facts.dev_scores) + best]
    parts += ["## Environment",
              f"bixse {bixse.__version__}, sentence-transformers {sentence_transformers.__version__}, "
              f"transformers {transformers.__version__}, torch {torch.__version__}, Python "
              f"{platform.python_version()}. The full configuration is in `bixse-train-config.yaml`, the "
              "per-step log in `training_log.jsonl`."]
    if facts.loss_citation.strip():
        parts += ["## Citation", "```bibtex\n" + facts.loss_citation.strip() + "\n```"]
    return "\n\n".join(parts) + "\n"
