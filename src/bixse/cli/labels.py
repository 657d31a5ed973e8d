"""``bixse labels``: training labels from any judge's qrels, in bixse's graded-pairs format, and
back to qrels; joining the label caches of a sharded judging run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bixse.cli import app
from bixse.collections import load, read_qrels_labels, write_labels_as_qrels
from bixse.collections.training_data import read_graded_pairs, write_training_file
from bixse.io import check_output_file
from bixse.judging.cache import merge_caches

labels_app = typer.Typer(help="Training labels: import them from any judge's qrels, export them as qrels; merge "
                         "sharded label caches",
                         no_args_is_help=True)
app.add_typer(labels_app, name="labels")
console = Console()


@labels_app.command("import")
def import_command(
    qrels: Annotated[Path, typer.Argument(help="A TREC qrels file (qid iter docid grade) or a BEIR qrels TSV "
                                          "(query-id, corpus-id, score; header optional), told apart by the first line.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="The collection the qrels' ids refer to: "
                                            "an embedded name (cranfield) or a BEIR/TREC folder.")],
    max_grade: Annotated[int, typer.Option("--max-grade", help="The top grade of the judge's scale, e.g. 3 for "
                                           "TREC DL / UMBRELA 0-3, 1 for binary qrels; score = grade / max-grade. "
                                           "A grade above it is an error.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Graded-pairs file to write (JSONL), e.g. labels.jsonl.")],
    drop_unknown: Annotated[bool, typer.Option("--drop-unknown", help="Skip and count lines naming a query or "
                                               "document the collection lacks (default: such a line is an error).")] = False,
    source: Annotated[Optional[str], typer.Option(help="Source recorded on every pair (default: qrels:<file stem>, "
                                                  "e.g. qrels:Olz__gpt4o).")] = None,
) -> None:
    """Turn a judge's qrels (an LLM label set, UMBRELA output, a TREC assessment) into graded
    training pairs against a collection, with score = grade / max-grade.

    Example (an LLMJudge label set, grades 0-3):

        bixse labels import llm-labels/Olz__gpt4o.tsv -c path/to/llmjudge-dl23 --max-grade 3 -o gpt4o.jsonl
    """
    labels = read_qrels_labels(qrels, load(collection), max_grade,
                               unknown_ids="drop" if drop_unknown else "error", source=source)
    written = write_training_file(output, labels.pairs)
    histogram = ", ".join(f"{grade}: {count:,}" for grade, count in labels.grade_counts.items())
    console.print(f"wrote {written:,} graded pairs for {labels.num_queries:,} queries (grades {histogram}; "
                  f"score = grade / {max_grade}; {labels.dropped_unknown:,} dropped as unknown): {output}",
                  highlight=False, soft_wrap=True)


@labels_app.command("export")
def export_command(
    labels: Annotated[Path, typer.Argument(help="A graded-pairs file (JSONL, e.g. from `bixse judge -o` or "
                                           "`bixse labels import`) whose pairs carry query_id and doc_id.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="The collection the labels' ids refer to: "
                                            "every query_id and doc_id must be in it.")],
    max_grade: Annotated[int, typer.Option("--max-grade", help="The top grade of the qrels' scale: grade = "
                                           "score * max-grade, rounded half up (3: TREC DL's 0-3).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="TREC qrels file to write (qid 0 docid grade), "
                                         "e.g. qrels.txt.")],
) -> None:
    """Write graded training pairs as TREC qrels, for trec_eval, ir_measures or `bixse eval --qrels`;
    `bixse labels import` with the same --max-grade reads them back.

    Example:

        bixse labels export graded.jsonl -c cranfield --max-grade 3 -o qrels.txt
    """
    check_output_file(output)
    exported = write_labels_as_qrels(output, read_graded_pairs(labels, load(collection), check_ids=True), max_grade)
    histogram = ", ".join(f"{grade}: {count:,}" for grade, count in exported.grade_counts.items())
    console.print(f"wrote {exported.written:,} judgements for {exported.num_queries:,} queries (grades {histogram}; "
                  f"grade = round(score * {max_grade})): {escape(str(output))}", highlight=False, soft_wrap=True)


@labels_app.command("merge")
def merge_command(
    output: Annotated[Path, typer.Argument(help="The label cache to write (SQLite); it may exist, holding the same "
                                           "judge's labels.")],
    inputs: Annotated[list[Path], typer.Argument(help="The caches to merge: the shards of one judging run "
                                                 "(`bixse judge --shard i/n`).")],
    tolerance: Annotated[float, typer.Option(help="Scores of one key differing by more than this are a "
                                             "conflict (the first merged is kept).")] = 1e-6,
) -> None:
    """Join label caches into one: every label once, none lost; conflicting judgements of the
    same pair are reported. Caches of another judge (identity, options or prompt) are an error.

    Example:

        bixse labels merge labels.sqlite labels.shard1of2.sqlite labels.shard2of2.sqlite
    """
    result = merge_caches(output, inputs, tolerance=tolerance)
    table = Table()
    table.add_column("input", no_wrap=True)
    for column in ("labels", "added", "duplicates", "conflicts"):
        table.add_column(column, justify="right")
    for merged in result.inputs:
        table.add_row(merged.path, f"{merged.labels:,}", f"{merged.added:,}", f"{merged.duplicates:,}",
                      f"{merged.conflicts:,}")
    console.print(table)
    judges = "; ".join(f"{judge} (prompt {prompt})" for judge, prompt in result.judges)
    console.print(f"{result.labels:,} labels in {result.output}: {judges}", highlight=False, soft_wrap=True)
    if result.conflicts:
        console.print(f"[yellow]{result.conflicts:,} conflicting judgement(s)[/yellow] (same judge, prompt and texts, "
                      f"scores differing by more than {tolerance:g}; the first merged is kept):", highlight=False)
        for conflict in result.conflict_examples:
            console.print(f"  query {conflict.query_sha256[:12]} doc {conflict.doc_sha256[:12]}: kept "
                          f"{conflict.kept_score:.6f}, {conflict.other_path} has {conflict.other_score:.6f}",
                          highlight=False, soft_wrap=True)
        if result.conflicts > len(result.conflict_examples):
            console.print(f"  ... and {result.conflicts - len(result.conflict_examples):,} more", highlight=False)
