"""An on-disk cache of corpus embeddings, keyed by what determines them.

The key hashes (1) the model's *content* (module configs, prompts, max sequence length and
every weight tensor, so a fine-tuned checkpoint saved over the same folder, or a model object
changed in memory, gets a new key), (2) the corpus content (ids and encoded text, in order)
and (3) the encoding precision. Nothing keys on a path or a name, so a renamed folder still
hits and a retrained one never returns stale vectors.

Layout: ``<cache_dir>/embeddings/<key>/shard-NNNNN.npy``, shards of consecutive rows in corpus
order (``SHARD_ROWS`` each, float32 or float16), and ``manifest.json``: what produced them (for
people), each shard's row count and CRC-32. Every file is written atomically and the manifest
after each shard, so an encoding killed after k shards resumes at shard k + 1. On load each
shard's size and checksum are verified: a truncated or corrupted shard is never read, only
encoded again (the others are kept).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bixse.io import atomic_write
from bixse.retrieval.shards import EmbeddingShards, ShardFile

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


SHARD_ROWS = 262_144  # 384 MB of float32 at 384 dimensions: what one encoding step holds
STORAGE_DTYPES: tuple[str, ...] = ("float32", "float16")
_CHECKSUM_BLOCK = 64 << 20


def file_crc32(path: Path) -> int:
    """CRC-32 of a file's bytes, read 64 MB at a time (zlib runs at about 1 GB/s here)."""
    crc = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHECKSUM_BLOCK):
            crc = zlib.crc32(chunk, crc)
    return crc


def shard_ranges(num_documents: int, shard_rows: int = SHARD_ROWS) -> list[tuple[int, int]]:
    """``(start, stop)`` rows of each shard of a corpus of ``num_documents``."""
    return [(start, min(start + shard_rows, num_documents)) for start in range(0, num_documents, shard_rows)]


class EmbeddingCache:
    """Get or store corpus embeddings under a key, shard by shard; see the module docstring."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.folder = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / "embeddings"

    @staticmethod
    def key(model_digest: str, corpus_digest: str, precision: str, storage: str = "float32") -> str:
        parts = f"{model_digest}|{corpus_digest}|{precision}" + ("" if storage == "float32" else f"|{storage}")
        return hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()

    def path(self, key: str) -> Path:
        """The entry's folder."""
        return self.folder / key

    def _manifest(self, key: str) -> dict[str, Any]:
        try:
            return json.loads((self.path(key) / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    def valid_shards(self, key: str, num_documents: int, shard_rows: int = SHARD_ROWS) -> dict[int, ShardFile]:
        """The shards of the entry that are complete and intact (size and CRC-32 as recorded)."""
        manifest = self._manifest(key)
        if manifest.get("documents") != num_documents or manifest.get("shard_rows") != shard_rows:
            return {}
        valid = {}
        for index, (start, stop) in enumerate(shard_ranges(num_documents, shard_rows)):
            record = manifest.get("shards", {}).get(str(index))
            path = self.path(key) / f"shard-{index:05d}.npy"
            if record is None or not path.is_file():
                continue
            try:
                shard = ShardFile.open(path)
            except (OSError, ValueError):
                continue
            if shard.rows == stop - start and file_crc32(path) == record["crc32"]:
                valid[index] = shard
        return valid

    def load(self, key: str, num_documents: int, shard_rows: int = SHARD_ROWS) -> EmbeddingShards | None:
        """Every shard of the entry, verified; None when any is absent, truncated or corrupted."""
        valid = self.valid_shards(key, num_documents, shard_rows)
        expected = len(shard_ranges(num_documents, shard_rows))
        if num_documents == 0 or len(valid) != expected:
            return None
        return EmbeddingShards([valid[index] for index in range(expected)])

    def store_shard(self, key: str, index: int, embeddings: np.ndarray, metadata: dict[str, Any],
                    storage: str = "float32") -> ShardFile:
        """Write shard ``index`` (atomically), then record it in the manifest (atomically)."""
        folder = self.path(key)
        path = folder / f"shard-{index:05d}.npy"
        with atomic_write(path, "wb") as handle:
            np.save(handle, np.ascontiguousarray(embeddings, dtype=storage), allow_pickle=False)
        manifest = self._manifest(key)
        if manifest.get("documents") != metadata.get("documents") or manifest.get("shard_rows") != metadata.get(
                "shard_rows"):
            manifest = {**metadata, "storage": storage, "shards": {}}
        manifest["shards"][str(index)] = {"rows": len(embeddings), "crc32": file_crc32(path)}
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        with atomic_write(folder / "manifest.json") as handle:
            json.dump(manifest, handle, indent=2)
        return ShardFile.open(path)

    def store(self, key: str, embeddings: np.ndarray, metadata: dict[str, Any], *, storage: str = "float32",
              shard_rows: int = SHARD_ROWS) -> EmbeddingShards:
        """Store a whole corpus's embeddings (as shards); return them as read back from disk."""
        metadata = {**metadata, "documents": len(embeddings), "shard_rows": shard_rows}
        return EmbeddingShards([self.store_shard(key, index, embeddings[start:stop], metadata, storage)
                                for index, (start, stop) in enumerate(shard_ranges(len(embeddings), shard_rows))])
