"""Model fingerprints for judge identities: cheap, and different whenever the weights differ.

A local model is fingerprinted by the resolved path, size and modification time of each of
its weight and config files (no full hash: a 7B model is 14 GB). Copying or re-saving a
model changes its fingerprint, which costs a cache miss, never a stale label. A hub id is
fingerprinted by name and revision; pass an explicit ``identity`` to a judge to pin one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bixse.errors import InputError

# Files whose change means different scores; tokenizer files count (a new vocabulary shifts
# which token ids the grades map to).
_FINGERPRINTED_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".json", ".model", ".txt")


def file_fingerprint(paths: list[Path]) -> str:
    """sha256 (first 16 hex digits) over each file's resolved path, size and mtime."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def model_fingerprint(name_or_path: str | Path, weights_file: str | None = None,
                      revision: str | None = None, label: str | None = None) -> str:
    """``<name>@<fingerprint>`` for a local folder or file, ``<hub id>@<revision>`` otherwise.

    ``weights_file`` narrows a folder to one file (a GGUF file among several quantisations);
    ``label`` replaces the file or folder name shown before the ``@``.
    """
    path = Path(name_or_path).expanduser()
    if not path.exists():
        return f"{name_or_path}@{revision or 'default'}"
    if weights_file is not None:
        files, default_label = [path / weights_file], Path(weights_file).stem
    elif path.is_file():
        files, default_label = [path], path.stem
    else:
        files = [f for f in path.rglob("*") if f.is_file() and f.suffix in _FINGERPRINTED_SUFFIXES]
        default_label = path.name
    label = label or default_label
    if not files:
        raise InputError("no model files (weights, config) in this folder", path=path, field="model")
    return f"{label}@{file_fingerprint(files)}"


def text_sha256(text: str) -> str:
    """The content hash the label cache keys texts by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
