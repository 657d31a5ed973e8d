"""``bixse demo``: the README's first command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bixse.cli import app
from bixse.demo import PRESETS, run_demo
from bixse.errors import InputError
from bixse.evaluation import rich_tables

console = Console()


def _split_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for everything the demo writes.")] = Path("bixse-demo"),
    scale: Annotated[str, typer.Option(help="Preset: [bold]cpu[/bold] (~8 min on 2 cores) or [bold]gpu[/bold] "
                                       "(more losses, steps and batch).")] = "cpu",
    losses: Annotated[Optional[str], typer.Option(help="Comma-separated losses to train, e.g. bixse,infonce,lsepair,jointlh.")] = None,
    baseline: Annotated[Optional[str], typer.Option(help="The loss every other is tested against (default "
                                                    "infonce; the first of --losses when they leave it out).")] = None,
    labels: Annotated[Optional[str], typer.Option(help="Label sets: human, judge or human,judge.")] = None,
    base_model: Annotated[Optional[str], typer.Option(help="Base encoder (default: the packaged all-MiniLM-L6-v2).")] = None,
    judge: Annotated[Optional[str], typer.Option(help="Judge kind for the second label set: bi-encoder, "
                                                 "cross-encoder, llm, http (see `bixse judge --help`).")] = None,
    judge_model: Annotated[Optional[str], typer.Option(help="The judge's model (default: the preset's "
                                                       "teacher, all-MiniLM-L6-v2 on cpu, all-mpnet-base-v2 on gpu; "
                                                       "for --judge llm the offline SmolLM2).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Training steps per model (same for every loss).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Queries per training batch.")] = None,
    max_train_queries: Annotated[Optional[int], typer.Option(help="Use only the first N training queries.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="Training precision: fp32, bf16, fp16, auto.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of every model's data order (and of the bootstrap); "
                                                "rerun with other seeds to see the spread.")] = None,
) -> None:
    """Replay the BiXSE paper's comparison on the embedded Cranfield collection, end to end.

    Mines BM25 candidates for the training queries, labels them with the human grades and with a
    judge (cached in OUTPUT/labels.sqlite), trains BiXSE, InfoNCE and LSEPair from the same base
    model and budget, and evaluates BM25, the base model and every trained model on the test
    queries. Writes OUTPUT/report.md and OUTPUT/chart.png. A rerun reuses labels, embeddings and
    finished models.

    Examples:

        bixse demo

        bixse demo --output runs/demo --losses bixse,infonce,jointlh --max-steps 100

        bixse demo --scale gpu --judge llm --judge-model Qwen/Qwen2.5-7B-Instruct
    """
    if scale not in PRESETS:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(PRESETS)}", field="scale")
    chosen_losses = _split_list(losses)
    if baseline is None and chosen_losses and PRESETS[scale].baseline_loss not in chosen_losses:
        baseline = chosen_losses[0]
    config = PRESETS[scale].with_overrides(
        output_dir=output, losses=chosen_losses, baseline_loss=baseline, label_sources=_split_list(labels), base_model=base_model,
        judge=judge, max_steps=max_steps, batch_size=batch_size, max_train_queries=max_train_queries,
        precision=precision, seed=seed)
    if judge_model is not None or judge is not None:
        config = config.with_overrides(judge_options={"model": judge_model} if judge_model else {})
    from transformers.utils import logging as transformers_logging

    # Weight-loading and shard-writing bars, once per model, would bury the stage lines.
    transformers_logging.disable_progress_bar()
    result = run_demo(config, log=lambda message: console.print(escape(message), highlight=False))
    for labels, comparison in result.comparisons_by_labels.items():
        for table in rich_tables(comparison, f"{config.collection} {config.eval_split}, trained on {labels} labels"):
            console.print(table)
    console.print(f"\nreport: {result.report}\nchart:  {result.chart}\n"
                  f"total:  {result.timings_s['total'] / 60:.1f} min", markup=False, highlight=False)
