"""Crash-safe file writing, UTF-8 reading that locates a bad byte, and line-numbered JSONL
reading, shared by every reader and writer."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

from bixse.errors import InputError


def check_output_file(path: str | Path, field: str = "output") -> Path:
    """``path`` as a file to write, or an ``InputError`` when it cannot be one (it is a folder,
    or a folder above it is a file); cheap, so commands call it before any work."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory; expected a file name", path=path, field=field)
    _check_folders_above(path, field)
    return path


def check_output_folder(path: str | Path, field: str = "output") -> Path:
    """``path`` as a folder to write into, or an ``InputError`` when it exists as a file (or a
    folder above it is a file)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder", path=path, field=field)
    _check_folders_above(path, field)
    return path


def _check_folders_above(path: Path, field: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError("is a file, not a folder", path=parent, field=field)
            return


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    A crash or an exception inside the block leaves ``path`` as it was (absent or the old
    version), never half-written: ``os.replace`` is atomic on POSIX within one filesystem.
    A ``path`` that is a folder (or lies under a file) is an ``InputError`` (field ``output``).
    """
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "b" in mode:
        encoding = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(tmp_name, plain_file_mode())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def plain_file_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file here: 0o666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def open_text(path: str | Path) -> Iterator[TextIO]:
    """``open(path, encoding="utf-8")`` for reading; a byte that is not UTF-8 is an ``InputError``
    naming the file and the line, raised where the reading happens. A leading byte-order mark
    (Windows editors write one) is skipped, not read as part of the first id or header."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            yield handle
    except UnicodeDecodeError:
        located = _locate_invalid_utf8(path)
        if located is None:  # the error came from something else read in the block
            raise
        raise located from None


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text (see ``open_text`` for the error)."""
    with open_text(path) as handle:
        return handle.read()


def _locate_invalid_utf8(path: str | Path) -> InputError | None:
    # A text handle decodes in chunks, so its error knows neither the line nor the file
    # offset; a second pass over the raw lines finds the first byte that does not decode.
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return InputError(f"not valid UTF-8: byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the "
                                  "line; save the file as UTF-8", path=path, line=line_number)
    return None


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in blocks (the file never sits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(path: str | Path) -> str:
    """The sha256 of a folder's files: their relative paths and the sha256 of each, in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; 1-based line numbers.

    Raises ``InputError`` naming the line for invalid JSON, a value that is not an object, or a
    byte that is not UTF-8.
    """
    path = Path(path)
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=line_number) from None
            if not isinstance(record, dict):
                raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line_number)
            yield line_number, record


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line, atomically; return the number of records written."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
