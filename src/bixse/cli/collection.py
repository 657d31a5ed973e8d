"""``bixse collection``: inspect and export test collections."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bixse.cli import app
from bixse.collections import export, load

collection_app = typer.Typer(help="Inspect and export test collections (embedded names or BEIR/TREC folders).",
                             no_args_is_help=True)
app.add_typer(collection_app, name="collection")
console = Console()

CollectionArg = Annotated[str, typer.Argument(
    help="An embedded collection name ([bold]cranfield[/bold]) or the path of a BEIR or TREC folder.")]


@collection_app.command("info")
def info(collection: CollectionArg) -> None:
    """Print a collection's counts, grade histogram and split sizes.

    Examples:

        bixse collection info cranfield

        bixse collection info ./scifact        (a BEIR folder)
    """
    loaded = load(collection)
    table = Table(title=f"collection: {escape(loaded.name)}", show_header=False)
    table.add_row("documents", f"{len(loaded.corpus):,}")
    table.add_row("queries", f"{len(loaded.queries):,}")
    table.add_row("judgements", f"{loaded.num_judgements():,}")
    for grade, count in loaded.grade_histogram().items():
        table.add_row(f"  grade {grade}", f"{count:,}")
    for split in loaded.split_names():
        ids = loaded.query_ids(split)
        judged = sum(len(loaded.qrels.get(q, {})) for q in ids)
        table.add_row(f"split {escape(split)}", f"{len(ids):,} queries, {judged:,} judgements")
    console.print(table)
    if loaded.description:
        console.print(loaded.description, markup=False)


@collection_app.command("export")
def export_command(
    collection: CollectionArg,
    folder: Annotated[Path, typer.Argument(help="Output folder (created if missing).")],
    format: Annotated[str, typer.Option("--format", "-f", help="beir (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) "
                                        "or trec (corpus.trec, topics.tsv, qrels/<split>.txt).")] = "beir",
) -> None:
    """Write a collection out as a BEIR or TREC folder, one qrels file per split.

    Example:

        bixse collection export cranfield ./cranfield-beir --format beir
    """
    written = export(load(collection), folder, format)  # type: ignore[arg-type]
    console.print(f"wrote {format} folder: {written}", markup=False, highlight=False)
