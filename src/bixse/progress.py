"""Progress of long loops (encoding, judging, labelling), for a person at a terminal or a log file.

At a terminal (stderr is a tty) a transient rich bar; otherwise, as when stderr goes to a log
file (``nohup ... 2> log``), one plain line at most every 30 seconds (``$BIXSE_PROGRESS_SECONDS``)
with the count, the rate and the time left, and a last line, so a long job is never silent in
its log. A job that ends before the first interval writes nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

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

LOG_EVERY_SECONDS = 30.0
LOG_EVERY_VARIABLE = "BIXSE_PROGRESS_SECONDS"


def should_show(show_progress: bool | None) -> bool:
    """Whether to draw a bar. ``None`` means: only when a person is watching (stderr is a terminal)."""
    return sys.stderr.isatty() if show_progress is None else show_progress


class Tracker:
    """``tracker(n)``: n more items done; ``tracker.start(total)``: the total, once known."""

    def __call__(self, done: int) -> None:
        return None

    def start(self, total: int | None) -> None:
        return None

    def close(self) -> None:
        return None


class BarTracker(Tracker):
    """A rich bar on stderr, removed when the loop ends."""

    def __init__(self, total: int | None, description: str, unit: str) -> None:
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn(f"{unit} ·"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                  TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self._progress.start()
        # The description names a model or folder: its brackets are text, not rich tags.
        self._task = self._progress.add_task(escape(description), total=total, rate="")

    def __call__(self, done: int) -> None:
        self._progress.advance(self._task, done)
        speed = self._progress.tasks[0].speed
        if speed:
            self._progress.update(self._task, rate=f"{speed:,.0f}/s")

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def close(self) -> None:
        self._progress.stop()


class LogTracker(Tracker):
    """Plain lines for a log file: at most one per ``every`` seconds, and a last one if any was written."""

    def __init__(self, total: int | None, description: str, unit: str, every: float | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.description, self.unit = total, description, unit
        self.every = _log_interval() if every is None else every
        self._stream, self._clock = stream, clock
        self.done, self.lines = 0, 0
        self._started = self._last = clock()

    def __call__(self, done: int) -> None:
        self.done += done
        if self._clock() - self._last >= self.every:
            self._write()

    def start(self, total: int | None) -> None:
        self.total = total

    def close(self) -> None:
        if self.lines:
            self._write()

    def line(self) -> str:
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = self.done / elapsed
        of_total = f"/{self.total:,}" if self.total else ""
        text = f"{self.description}: {self.done:,}{of_total} {self.unit}, {rate:,.1f}/s, {_clock_time(elapsed)} elapsed"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_clock_time((self.total - self.done) / rate)} left"
        return text

    def _write(self) -> None:
        stream = self._stream or sys.stderr
        print(self.line(), file=stream, flush=True)
        self.lines += 1
        self._last = self._clock()


def _log_interval() -> float:
    value = os.environ.get(LOG_EVERY_VARIABLE, "")
    try:
        return float(value) if value else LOG_EVERY_SECONDS
    except ValueError:
        return LOG_EVERY_SECONDS  # a progress interval is not worth failing a job over


def _clock_time(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@contextmanager
def progress_bar(total: int | None, description: str, show_progress: bool | None = None,
                 unit: str = "texts") -> Iterator[Tracker]:
    """Yield a ``Tracker``: a bar at a terminal (or with ``show_progress=True``), log lines when
    stderr is not a terminal and ``show_progress`` is None, nothing with ``show_progress=False``."""
    if show_progress is False or total == 0:
        tracker: Tracker = Tracker()
    elif should_show(show_progress):
        tracker = BarTracker(total, description, unit)
    else:
        tracker = LogTracker(total, description, unit)
    try:
        yield tracker
    finally:
        tracker.close()
