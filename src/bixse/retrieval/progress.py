"""One progress bar style for the long loops of retrieval (encoding, indexing, searching)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def should_show(show_progress: bool | None) -> bool:
    """``None`` means: show a bar only when a person is watching (stderr is a terminal)."""
    return sys.stderr.isatty() if show_progress is None else show_progress


@contextmanager
def progress_bar(total: int, description: str, show_progress: bool | None = None,
                 unit: str = "texts") -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draw a transient rich bar on stderr when enabled, else do nothing."""
    if not should_show(show_progress) or total <= 0:
        yield lambda n: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit} ·"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        # The description names a model or folder: its brackets are text, not rich tags.
        task = progress.add_task(escape(description), total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[0].speed
            if speed:
                progress.update(task, rate=f"{speed:,.0f}/s")

        yield advance
