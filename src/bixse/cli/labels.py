"""``bixse labels``: training labels from any judge's qrels, in bixse's graded-pairs format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bixse.cli import app
from bixse.collections import load, read_qrels_labels
from bixse.collections.training_data import write_training_file

labels_app = typer.Typer(help="Training labels: import them from any judge's qrels", no_args_is_help=True)
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
