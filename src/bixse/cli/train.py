"""``bixse train``: fine-tune a bi-encoder with any bixse loss (one call to ``bixse.training.train``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bixse.cli import app
from bixse.training.config import TrainConfig

console = Console()
_DEFAULTS = TrainConfig()


def _option(*flags: str, help: str, field: str | None = None) -> Any:
    """A typer option whose help ends with TrainConfig's default for ``field`` (they cannot drift apart)."""
    if field is not None:
        help += f" [dim](default: {getattr(_DEFAULTS, field)})[/dim]"
    return typer.Option(*flags, help=help)



@app.command("train")
def train_command(
    config: Annotated[Optional[Path], _option(
        "--config", help="TOML or YAML file with any of the settings below (field names as keys, e.g. "
        "learning_rate: 5e-5, loss_params: {scale: 20}). Options given here override it.")] = None,
    model: Annotated[Optional[str], _option(
        "--model", "-m", field="model", help="Base model: [bold]default[/bold] / all-MiniLM-L6-v2 (packaged, "
        "offline), a sentence-transformers folder, or a hub id.")] = None,
    data: Annotated[Optional[Path], _option(
        "--data", "-d", help="Training data: a JSONL file of graded pairs {query|query_id, document|doc_id, "
        "score} or multi-positive groups {query, positives, negatives}; a .csv or .parquet file with the "
        "graded-pairs columns; a folder holding a Hugging Face dataset saved with save_to_disk; or a hub dataset "
        "id org/name[:split] (split train by default; needs a network or the datasets cache). Default: the human grades (qrels) of "
        "--collection/--split.")] = None,
    collection: Annotated[Optional[str], _option(
        "--collection", "-c", field="collection", help="Collection whose qrels train (without --data), which "
        "resolves ids in --data, and whose dev split scores the model.")] = None,
    split: Annotated[Optional[str], _option(
        "--split", field="split", help="Query split whose qrels train when no --data is given.")] = None,
    loss: Annotated[Optional[str], _option(
        "--loss", "-l", field="loss", help="Loss name: bixse (pointwise BCE on graded labels), infonce, "
        "soft_infonce, mw_auc, jointlh, summarglh, lsepair, rand1lh, ranknet, margin_mse, listwise_kl; bixse_ring "
        "(BiXSE by ring exchange across torchrun processes).")] = None,
    loss_param: Annotated[Optional[list[str]], _option(
        "--loss-param", "-p", help="Loss parameter name=value (repeatable), e.g. -p scale=20 "
        "-p learnable_bias=false.")] = None,
    hard_negatives: Annotated[Optional[int], _option(
        "--hard-negatives", field="hard_negatives", help="Judged documents of the same query added to each row "
        "as hard negatives, lowest score first (pointwise and contrastive losses).")] = None,
    positive_threshold: Annotated[Optional[float], _option(
        "--positive-threshold", field="positive_threshold", help="Score from which a label counts as a "
        "positive (contrastive and multi-positive losses).")] = None,
    max_candidates: Annotated[Optional[int], _option(
        "--max-candidates", field="max_candidates", help="Most documents per query row for multi-positive and "
        "list losses (highest scores kept).")] = None,
    batch_size: Annotated[Optional[int], _option(
        "--batch-size", "-b", field="batch_size", help="Labelled pairs (distinct queries) per batch and "
        "device.")] = None,
    mini_batch_size: Annotated[Optional[int], _option(
        "--mini-batch-size", help="GradCache: embed each batch N rows at a time, so that memory is bounded by "
        "N rows' activations instead of the batch's; same loss and gradients, one extra forward pass. "
        "Default: the whole batch at once.")] = None,
    learning_rate: Annotated[Optional[float], _option(
        "--learning-rate", "--lr", field="learning_rate", help="Peak learning rate (AdamW, linear decay).")] = None,
    loss_learning_rate: Annotated[Optional[float], _option(
        "--loss-learning-rate", help="Learning rate of the loss's own parameters (BiXSE's bias). Default: "
        "--learning-rate.")] = None,
    warmup_ratio: Annotated[Optional[float], _option(
        "--warmup-ratio", field="warmup_ratio", help="Fraction of the steps spent warming the learning rate "
        "up.")] = None,
    weight_decay: Annotated[Optional[float], _option(
        "--weight-decay", field="weight_decay", help="AdamW weight decay.")] = None,
    epochs: Annotated[Optional[float], _option(
        "--epochs", "-e", field="epochs", help="Passes over the training rows.")] = None,
    max_steps: Annotated[Optional[int], _option(
        "--max-steps", help="Stop after this many optimizer steps (overrides --epochs).")] = None,
    max_seq_length: Annotated[Optional[int], _option(
        "--max-seq-length", field="max_seq_length", help="Truncate training inputs to this many tokens (the "
        "saved model keeps its own limit).")] = None,
    seed: Annotated[Optional[int], _option(
        "--seed", field="seed", help="Seed of the data order and initialisation.")] = None,
    precision: Annotated[Optional[str], _option(
        "--precision", field="precision", help="auto (GPU: bf16, else fp16; CPU: bf16 where it has native "
        "bf16, else fp32), fp32, bf16 (autocast, CPU too), fp16 (GPU).")] = None,
    output: Annotated[Optional[Path], _option(
        "--output", "-o", field="output_dir", help="Output folder: the trained model, its card, config and "
        "log.")] = None,
    checkpoint_steps: Annotated[Optional[int], _option(
        "--checkpoint-steps", field="checkpoint_steps", help="Save a resumable checkpoint every N steps.")] = None,
    save_total_limit: Annotated[Optional[int], _option(
        "--save-total-limit", field="save_total_limit", help="Checkpoints kept (0 = all).")] = None,
    keep_checkpoints: Annotated[bool, _option(
        "--keep-checkpoints", help="Keep checkpoints/ after a successful run (removed by default).")] = False,
    resume: Annotated[bool, _option(
        "--resume", help="Continue the run in --output from its last complete checkpoint: same data order, "
        "optimizer and scheduler state. Refused if the settings or the data (its sha256) changed.")] = False,
    overwrite: Annotated[bool, _option(
        "--overwrite", help="Start over even if --output holds another run.")] = False,
    eval_steps: Annotated[Optional[int], _option(
        "--eval-steps", field="eval_steps", help="Score the dev split (nDCG@10, MRR@10, R@100) every N steps and "
        "before training (0 = only after training).")] = None,
    dev_collection: Annotated[Optional[str], _option(
        "--dev-collection", help="Collection of the dev split. Default: --collection.")] = None,
    dev_split: Annotated[Optional[str], _option(
        "--dev-split", field="dev_split", help="Split scored after (and with --eval-steps, during) training; "
        "'none' to skip. The default is skipped on a collection without it; another unknown name is an "
        "error.")] = None,
    logging_steps: Annotated[Optional[int], _option(
        "--logging-steps", field="logging_steps", help="Log loss and learning rate every N steps.")] = None,
    gradient_accumulation_steps: Annotated[Optional[int], _option(
        "--gradient-accumulation-steps", field="gradient_accumulation_steps", help="Batches whose gradients are "
        "summed before each optimizer step (transformers' gradient_accumulation_steps). A contrastive loss still "
        "sees --batch-size rows at a time: for more in-batch negatives use --mini-batch-size.")] = None,
    gradient_checkpointing: Annotated[bool, _option(
        "--gradient-checkpointing", help="Recompute activations in the backward pass instead of storing them: "
        "less memory, more time per step (transformers' activation_checkpointing, formerly "
        "gradient_checkpointing).")] = False,
    device: Annotated[Optional[str], _option(
        "--device", help="cpu or cuda. Default: cuda where there is one, else cpu.")] = None,
    report_to: Annotated[Optional[str], _option(
        "--report-to", field="report_to", help="none, tensorboard (event files in <output>/runs) or wandb "
        "(transformers' report_to; the package must be installed). training_log.jsonl is written "
        "always.")] = None,
    load_best_model_at_end: Annotated[bool, _option(
        "--load-best-model-at-end", help="Save the checkpoint with the best dev nDCG@10 instead of the last one; "
        "needs --eval-steps and a dev split, and --checkpoint-steps a multiple of --eval-steps.")] = False,
    push_to_hub: Annotated[Optional[str], _option(
        "--push-to-hub", help="After saving, upload the output folder (model, card, config, log) to this "
        "Hugging Face hub repo (user/name); needs the network and a login (huggingface-cli login).")] = None,
) -> None:
    """Fine-tune a bi-encoder on graded relevance labels with any bixse loss.

    Built on sentence-transformers' SentenceTransformerTrainer. Each batch holds one labelled pair per query and no document twice (no false in-batch negatives). The output folder is a plain sentence-transformers model with a model card, the resolved config and a JSONL training log.

    Without --data it trains on the human grades of the collection's train split (Cranfield by default). --resume continues after a crash or a kill. Under torchrun it runs data parallel, with in-batch negatives gathered across devices.

    Examples:

        bixse train --loss bixse -o models/bixse

        bixse train --loss infonce --hard-negatives 3 --lr 5e-5 -o models/infonce

        bixse train --data labels.jsonl --collection cranfield --loss bixse -p scale=20 --eval-steps 50

        bixse train --config train.yaml --max-steps 200 --precision bf16

        bixse train --config train.yaml --resume

        bixse train --loss bixse -b 1024 --mini-batch-size 32

        bixse train --data labels.parquet --eval-steps 50 --checkpoint-steps 100 --load-best-model-at-end --report-to tensorboard

        torchrun --nproc_per_node 4 -m bixse train --loss bixse -b 64
    """
    from bixse.training import TrainConfig, load_config, parse_loss_params, train

    base = load_config(config) if config is not None else TrainConfig()
    given: dict[str, Any] = {
        "model": model, "data": None if data is None else str(data), "collection": collection, "split": split,
        "loss": loss, "hard_negatives": hard_negatives, "positive_threshold": positive_threshold,
        "max_candidates": max_candidates, "batch_size": batch_size, "mini_batch_size": mini_batch_size,
        "learning_rate": learning_rate,
        "loss_learning_rate": loss_learning_rate,
        "warmup_ratio": warmup_ratio, "weight_decay": weight_decay, "epochs": epochs, "max_steps": max_steps,
        "max_seq_length": max_seq_length, "seed": seed, "precision": precision,
        "output_dir": None if output is None else str(output), "checkpoint_steps": checkpoint_steps,
        "save_total_limit": save_total_limit, "eval_steps": eval_steps, "dev_collection": dev_collection,
        "logging_steps": logging_steps, "gradient_accumulation_steps": gradient_accumulation_steps,
        "device": device, "report_to": report_to, "push_to_hub": push_to_hub,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    if dev_split is not None:
        changes["dev_split"] = None if dev_split.lower() == "none" else dev_split
    if loss_param:
        changes["loss_params"] = {**base.loss_params, **parse_loss_params(loss_param)}
    for flag, value in (("keep_checkpoints", keep_checkpoints), ("resume", resume), ("overwrite", overwrite),
                        ("gradient_checkpointing", gradient_checkpointing),
                        ("load_best_model_at_end", load_best_model_at_end)):
        if value:
            changes[flag] = True
    # The trainer's own bar (loss, learning rate) stays; per-file save/load bars would break it up.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    folder = train(base.replace(**changes))
    if _is_main_process():
        _print_summary(folder)


def _print_summary(folder: Path) -> None:
    import json

    log = folder / "training_log.jsonl"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    scores = [r for r in records if "eval_nDCG@10" in r]
    console.print(f"trained model: [bold]{escape(str(folder))}[/bold] (model card README.md, bixse-train-config.yaml, "
                  "training_log.jsonl)", soft_wrap=True)
    if scores:
        last = scores[-1]
        measures = ", ".join(f"{k[5:]} {v:.4f}" for k, v in last.items() if k.startswith("eval_")
                             and isinstance(v, float) and not k.endswith(("_runtime", "_per_second")))
        console.print(f"dev scores after step {last['step']}: {measures}", soft_wrap=True)


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
