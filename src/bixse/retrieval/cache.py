"""An on-disk cache of corpus embeddings, keyed by what determines them.

The key hashes (1) the model's *content* (module configs, prompts, max sequence length and
every weight tensor, so a fine-tuned checkpoint saved over the same folder, or a model object
changed in memory, gets a new key), (2) the corpus content (ids and encoded text, in order)
and (3) the encoding precision. Nothing keys on a path or a name, so a renamed folder still
hits and a retrained one never returns stale vectors.

Layout: ``<cache_dir>/embeddings/<key>.npy`` (float32, one row per document, corpus order) and
``<key>.json`` (what produced it, for people). Both are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bixse.io import atomic_write

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from bixse.collections import Document


def default_cache_dir() -> Path:
    """``$BIXSE_CACHE`` if set, else ``~/.cache/bixse``."""
    return Path(os.environ.get("BIXSE_CACHE") or Path.home() / ".cache" / "bixse").expanduser()


def model_fingerprint(model: SentenceTransformer) -> str:
    """A hex digest of everything in ``model`` that changes its embeddings.

    Hashes ~90 MB of weights for MiniLM in about 0.1 s: cheap next to encoding anything.
    """
    digest = hashlib.blake2b(digest_size=16)
    modules = []
    for module in model:
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        modules.append([type(module).__qualname__, config])
    description = {
        "class": type(model).__qualname__,
        "modules": modules,
        "max_seq_length": model.max_seq_length,
        "prompts": getattr(model, "prompts", {}),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
    }
    digest.update(json.dumps(description, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(dtype=torch.uint8).numpy())
    return digest.hexdigest()


def corpus_fingerprint(doc_ids: Sequence[str], texts: Sequence[str]) -> str:
    """A hex digest of the corpus as encoded: ids and texts, in order, length-prefixed."""
    digest = hashlib.blake2b(digest_size=16)
    for doc_id, text in zip(doc_ids, texts, strict=True):
        for part in (doc_id, text):
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
    return digest.hexdigest()


def corpus_texts(corpus: Mapping[str, Document]) -> tuple[list[str], list[str]]:
    """Document ids and the texts to encode (``Document.full_text``), in corpus order."""
    doc_ids = list(corpus)
    return doc_ids, [corpus[doc_id].full_text for doc_id in doc_ids]


class EmbeddingCache:
    """Get or store corpus embeddings under a key; see the module docstring."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.folder = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / "embeddings"

    @staticmethod
    def key(model_digest: str, corpus_digest: str, precision: str) -> str:
        return hashlib.blake2b(f"{model_digest}|{corpus_digest}|{precision}".encode(), digest_size=16).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def load(self, key: str, num_documents: int) -> np.ndarray | None:
        """The cached array, or None when absent or unreadable or of the wrong length."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            embeddings = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if embeddings.ndim != 2 or embeddings.shape[0] != num_documents:
            return None
        return embeddings

    def store(self, key: str, embeddings: np.ndarray, metadata: dict[str, Any]) -> Path:
        path = self.path(key)
        with atomic_write(path, "wb") as handle:
            np.save(handle, np.ascontiguousarray(embeddings, dtype=np.float32), allow_pickle=False)
        record = {**metadata, "shape": list(embeddings.shape), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with atomic_write(path.with_suffix(".json")) as handle:
            json.dump(record, handle, indent=2)
        return path
