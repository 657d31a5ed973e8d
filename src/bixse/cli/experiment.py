"""``bixse experiment``: run a grid of training runs and report it (a shell over ``bixse.experiment``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bixse.cli import app

console = Console()
experiment_app = typer.Typer(
    help="Replay the papers' comparisons: a grid of losses x labels x label transforms x seeds, each cell "
         "trained like `bixse train` and evaluated like `bixse eval`, resumable and shardable.\n\n"
         "Start from the shipped grid: [bold]bixse experiment run experiments/paper-ablations.yaml "
         "--dry-run[/bold].",
    no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(experiment_app, name="experiment")

_GRID_HELP = """An experiment file (YAML) holds fixed settings and named grids; each grid's cells are the
product of its axes (every axis is a list):

\b
    name: my-grid
    model: all-MiniLM-L6-v2           # base model of every cell
    training: {max_seq_length: 64, max_steps: 100, batch_size: 32}   # `bixse train` settings shared by every cell
    evaluation:
      collections: [cranfield:test, ../data/beir/scifact:test]       # collection:split, zero-shot
      measures: [nDCG@10, R@100]
      max_seq_length: 128             # evaluation truncation (bf16 on a native-bf16 CPU with auto)
    baseline: infonce                 # every cell is tested against this loss on the same labels/seed
    labels:                           # named label sources
      human: {collection: cranfield, split: train, candidates: {retriever: bm25, top_k: 20}}
      gpt4o: {qrels: llm-labels/Olz__gpt4o.tsv, collection: ../data/beir/llmjudge-dl23, max_grade: 3}
      teacher: {judge: bi-encoder, judge_options: {model: all-MiniLM-L6-v2}, collection: cranfield,
                split: train, candidates: {top_k: 20}}
    grids:
      noise:
        loss: [bixse, infonce, {name: bixse-fixed-bias, loss: bixse, params: {learnable_bias: false}}]
        labels: [human]
        transform: [none, {flip: 0.1}, {cutoff: 0.5}, {binarize: 0.5}]
        seed: [0, 1, 2]
        batch_size: [32]              # optional axes: batch_size, max_steps
        evaluation: [cranfield:test]  # optional: this grid's own evaluation collections
    claims:                           # optional: what the report tests, one plain sentence each
      - claim: BiXSE beats InfoNCE under label noise
        arm: {loss: bixse, labels: human, transform: {flip: 0.1}}
        against: {loss: infonce}      # the arm's other fields unless named
        paper: "68.5 vs 64.6"         # optional: the figures the claim comes from

Transforms: flip p (y -> 1 - y with probability p, the same pairs flipped for every loss at a seed),
cutoff c (pairs below c dropped; the kept pairs are the positives of contrastive losses), binarize t
(y -> 1 if y >= t else 0). A claim holds when arm - against is positive and significant (bootstrap
and randomisation tests, Holm across the claims); it does not hold at this scale when significantly
negative or when its 95% interval excludes a gain of min_effect (default 0.01); else inconclusive."""


@experiment_app.command("run", help="Run the cells of CONFIG that have not finished, then write the report.\n\n"
                        + escape(_GRID_HELP))  # the help is rich markup: its YAML lists must not read as tags
def run_command(
    config: Annotated[Path, typer.Argument(help="Experiment file (YAML).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder of the results (default: "
                                                   "runs/<experiment name>). Rerun with the same folder to resume.")] = None,
    shard: Annotated[Optional[str], typer.Option(help="i/n: run only the i-th of n disjoint shares of the cells "
                                                 "(one machine or GPU each) into the same folder layout.")] = None,
    keep_models: Annotated[bool, typer.Option("--keep-models", help="Keep each cell's trained model (about 87 MB "
                                              "for MiniLM) instead of deleting it once evaluated.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file, list the cells with their status "
                                          "and estimated cost, and stop.")] = False,
    max_cells: Annotated[Optional[int], typer.Option(help="Run at most this many cells now (the rest on a "
                                                     "later run).")] = None,
) -> None:
    from transformers.utils import logging as transformers_logging

    from bixse.experiment import load_experiment, parse_shard, run_experiment

    share = parse_shard(shard) if shard else (1, 1)  # the cheaper check first: a typo costs nothing
    experiment = load_experiment(config)
    folder = output or Path("runs") / experiment.name
    if dry_run:
        _print_plan(experiment, share, folder)
        return
    transformers_logging.disable_progress_bar()
    run = run_experiment(experiment, folder, shard=share, keep_models=keep_models, max_cells=max_cells,
                         log=lambda message: console.print(escape(message), highlight=False))
    console.print(f"ran {len(run.ran)} cell(s), {len(run.skipped)} already finished; report: {run.report}",
                  highlight=False)


def _print_plan(experiment, share: tuple[int, int], folder: Path) -> None:
    from bixse.experiment import estimate_cells
    from bixse.experiment.config import shard_of
    from bixse.experiment.runner import Collections, prepare

    cells = shard_of(experiment.cells(), share)
    collections = Collections()
    prepare(experiment, cells, folder, collections)  # every check a real run makes first
    sizes = {t.collection: len(collections.get(t.collection, "evaluation.collections").corpus)
             for cell in cells for t in cell.evaluation}
    estimates = estimate_cells(experiment, cells, sizes, folder)
    table = Table(title=f"{experiment.name}: {len(cells)} cells (shard {share[0]}/{share[1]}) in {folder}")
    for column in ("#", "cell", "grid", "status", "train", "evaluate"):
        table.add_column(column, justify="right" if column in ("#", "train", "evaluate") else "left")
    for number, estimate in enumerate(estimates, start=1):
        table.add_row(str(number), escape(estimate.key), estimate.grid, estimate.status,
                      f"{estimate.train_s / 60:.1f} min", f"{estimate.evaluate_s / 60:.1f} min")
    console.print(table)
    left = sum(e.total_s for e in estimates)
    done = sum(e.status == "done" for e in estimates)
    console.print(f"{done} done, {len(estimates) - done} to run: about {left / 3600:.1f} h on this machine "
                  "(rates measured on 2 CPU cores, rescaled by finished cells).", highlight=False)


@experiment_app.command("report", help="Aggregate the finished cells of DIR (any shards) into DIR/report/: "
                        "report.md, report.json and figures.")
def report_command(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
) -> None:
    from bixse.errors import InputError
    from bixse.experiment import write_experiment_report

    if not (folder / "experiment.yaml").is_file():
        raise InputError("not an experiment folder (no experiment.yaml)", path=folder)
    console.print(f"report: {write_experiment_report(folder)}", highlight=False)


@experiment_app.command("publish", help="Re-make DIR's report, copy it and every finished cell's records (cell.json, "
                        "result.json with per-query scores, train-config.yaml) to --to, and refresh the results "
                        "section of --readme (between <!-- experiment:start --> and <!-- experiment:end -->).\n\n"
                        "[bold]bixse experiment publish runs/paper-ablations --to docs/experiments/paper-ablations "
                        "--readme README.md[/bold]")
def publish_command(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
    to: Annotated[Path, typer.Option("--to", help="Folder to publish into (kept in the repository; models and "
                                     "embeddings are not copied).")],
    readme: Annotated[Optional[Path], typer.Option(help="A markdown file whose marked section gets the tables, "
                                                   "figures and one sentence per claim.")] = None,
) -> None:
    from bixse.experiment import publish_experiment

    cells = publish_experiment(folder, to, readme)
    console.print(f"published {cells} cell(s) to {to}" + (f"; {readme} updated" if readme else ""), highlight=False)
