"""The ``bixse`` command line: a thin shell over the library; each command is one library call."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bixse.errors import InputError

app = typer.Typer(
    name="bixse",
    help=(
        "Train dense retrievers from graded relevance labels (BiXSE) and measure the result.\n\n"
        "Start with [bold]bixse collection info cranfield[/bold] to see the embedded collection."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click passes help_option_names down to every subcommand's context: -h works everywhere.
    context_settings={"help_option_names": ["-h", "--help"]},
)
error_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from bixse import __version__

        print(f"bixse {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                                   help="Print the bixse version and exit.")] = False) -> None:
    pass

# Each command group lives in its own module and registers itself on `app` when imported.
from bixse.cli import collection as _collection  # noqa: E402,F401
from bixse.cli import demo as _demo  # noqa: E402,F401
from bixse.cli import evaluate as _evaluate  # noqa: E402,F401
from bixse.cli import experiment as _experiment  # noqa: E402,F401
from bixse.cli import judge as _judge  # noqa: E402,F401
from bixse.cli import labels as _labels  # noqa: E402,F401
from bixse.cli import train as _train  # noqa: E402,F401


def main() -> None:
    """Entry point: run the app, turning input errors into a one-line message and exit code 2.

    Messages quote paths, ids and texts, so they are escaped: ``[/INST]`` in a file name would
    otherwise be read as a rich tag (and ``[data]`` silently dropped)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except InputError as error:
        error_console.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
