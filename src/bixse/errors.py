"""The one exception type for bad user input: it names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Malformed input, located precisely enough for a user to fix it.

    ``str(error)`` reads ``path:line: field 'name': what is wrong``; every part but the
    message is optional so the same type serves files, records and command-line values.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        elif self.line is not None:
            where = f"line {self.line}"
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}: {field}{self.message}" if where else f"{field}{self.message}"
