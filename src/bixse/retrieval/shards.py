"""Corpus embeddings as row shards: in memory, or ``.npy`` files read a block at a time.

A corpus of MS MARCO's size (8.8M passages x 384 dimensions) is 13.5 GB of float32: more than
a search should hold. So embeddings live in shards of consecutive rows (corpus order), and
whoever scans them (exact search, a FAISS index being filled) asks for blocks of rows with
``blocks``: each block is read from its file into fresh memory (``np.fromfile`` at an offset,
not a memory map, whose touched pages would count towards the process's memory until it
exits), so a scan holds one block whatever the corpus size. Small corpora behave as one array:
``np.asarray(shards)`` concatenates them.

Files may hold float16 (half the disk and the reads); blocks always come back as float32.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_BLOCK_ROWS = 16_384


@dataclass(frozen=True)
class ShardFile:
    """One ``.npy`` shard on disk: ``rows`` x ``dim`` of ``dtype``, data starting at ``offset`` bytes."""

    path: Path
    rows: int
    dim: int
    dtype: np.dtype
    offset: int

    @classmethod
    def open(cls, path: str | Path) -> ShardFile:
        """Read the header of a 2-d, C-ordered ``.npy`` file (``ValueError`` if it is not one or is
        shorter than its header says)."""
        path = Path(path)
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{path}: .npy format version {version} not supported")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(handle)
            offset = handle.tell()
        if len(shape) != 2 or fortran_order or dtype not in (np.float32, np.float16):
            raise ValueError(f"{path}: not a 2-d C-ordered float32/float16 array")
        expected = offset + shape[0] * shape[1] * dtype.itemsize
        if path.stat().st_size != expected:
            raise ValueError(f"{path}: {path.stat().st_size} bytes where the header needs {expected} (truncated?)")
        return cls(path, int(shape[0]), int(shape[1]), np.dtype(dtype), offset)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new float32 array."""
        count = (stop - start) * self.dim
        values = np.fromfile(self.path, dtype=self.dtype, count=count,
                             offset=self.offset + start * self.dim * self.dtype.itemsize)
        return values.reshape(stop - start, self.dim).astype(np.float32, copy=False)


Shard = np.ndarray | ShardFile


class EmbeddingShards(Sequence[Shard]):
    """Row shards of one corpus's embeddings, in corpus order; see the module docstring."""

    def __init__(self, shards: Sequence[Shard]) -> None:
        dims = {shard.shape[1] if isinstance(shard, np.ndarray) else shard.dim for shard in shards}
        if len(dims) > 1:
            raise ValueError(f"shards of different dimensions: {sorted(dims)}")
        self._shards = list(shards)
        self.dim = dims.pop() if dims else 0
        self.rows = sum(_rows(shard) for shard in self._shards)

    def __getitem__(self, index):  # type: ignore[override]
        return self._shards[index]

    def __len__(self) -> int:
        return len(self._shards)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.dim)

    def blocks(self, block_rows: int = DEFAULT_BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float32 block)`` over every row in order, at most ``block_rows`` rows a
        block; a block never spans two shards."""
        first = 0
        for shard in self._shards:
            rows = _rows(shard)
            for start in range(0, rows, block_rows):
                stop = min(start + block_rows, rows)
                if isinstance(shard, np.ndarray):
                    block = np.asarray(shard[start:stop], dtype=np.float32)
                else:
                    block = shard.read(start, stop)
                yield first + start, block
            first += rows

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = np.empty(self.shape, dtype=np.float32)
        for start, block in self.blocks():
            whole[start:start + len(block)] = block
        return whole if dtype is None else whole.astype(dtype)

    def __repr__(self) -> str:
        on_disk = sum(isinstance(shard, ShardFile) for shard in self._shards)
        return f"EmbeddingShards({self.rows} x {self.dim}, {len(self)} shards, {on_disk} on disk)"


def _rows(shard: Shard) -> int:
    return shard.shape[0] if isinstance(shard, np.ndarray) else shard.rows


def as_shards(embeddings: np.ndarray | EmbeddingShards | object) -> EmbeddingShards:
    """``embeddings`` as shards (an array or tensor becomes one in-memory shard)."""
    if isinstance(embeddings, EmbeddingShards):
        return embeddings
    if hasattr(embeddings, "detach"):  # a torch tensor
        embeddings = embeddings.detach().cpu().numpy()
    array = np.asarray(embeddings)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {array.shape}")
    return EmbeddingShards([array])
