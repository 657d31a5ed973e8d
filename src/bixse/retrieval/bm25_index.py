"""A bm25s index built a chunk of documents at a time, and kept on disk for the next run.

``bm25s.BM25.index`` needs every document's tokens as Python lists at once and counts them in
Python loops: MS MARCO's 8.8M passages need about 20 GiB there. This builds the *same* score
matrix (bm25s's CSC layout: ``data``, ``indices``, ``indptr``; one column per token, the score
of each document holding it) from compact arrays:

1. tokenize ``CHUNK`` documents at a time with bm25s's ``Tokenizer`` (its vocabulary grows
   across chunks, so token ids are those of one call) and keep each chunk's distinct
   ``(document, token, term frequency)`` triples as int32 arrays;
2. with document frequencies and the mean length known, score each chunk's triples exactly as
   bm25s does (idf in float32, the term-frequency part in float64, the product stored as
   float32) and scatter them into their columns (a counting sort, chunk by chunk).

Peak memory is those triples (12 bytes per distinct token of a document) plus the matrix
(8 bytes per entry), not the tokens as Python objects. The result is saved in bm25s's own
format (``BM25.save``) with the tokenizer's vocabulary, under a key of the corpus content and
every parameter, and memory-mapped on reuse (``BM25.load(mmap=True)``). A saved index whose
files are incomplete (a crash while saving) is never used: a ``complete`` marker is written
last, holding each file's CRC-32, and an index whose files do not match it (truncated,
corrupted, or failing to load) is built again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bixse.retrieval.cache import corpus_fingerprint, file_crc32

CHUNK = 100_000
COMPLETE_MARKER = "complete.json"


def tokenize_chunk(tokenizer: Any, texts: Sequence[str], first_document: int) -> tuple[np.ndarray, ...]:
    """``(document lengths, documents, tokens, term frequencies)`` of one chunk: one row of the
    last three per distinct token of a document (documents numbered from ``first_document``)."""
    ids = tokenizer.tokenize(list(texts), update_vocab=True, return_as="ids", show_progress=False)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    documents = np.repeat(np.arange(first_document, first_document + len(ids), dtype=np.int64), lengths)
    keys, frequencies = np.unique((documents << 32) | flat, return_counts=True)
    return (lengths.astype(np.int32), (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32),
            frequencies.astype(np.int32))


def build_scores(tokenizer: Any, texts: Sequence[str], *, k1: float, b: float, chunk: int = CHUNK,
                 advance: Callable[[int], None] | None = None) -> dict[str, Any]:
    """bm25s's ``scores`` dict (Lucene BM25) for ``texts``, built a chunk at a time (see the module
    docstring). The tokenizer's vocabulary must be empty: it is filled here."""
    chunks = []
    for start in range(0, len(texts), chunk):
        chunks.append(tokenize_chunk(tokenizer, texts[start:start + chunk], start))
        if advance is not None:
            advance(len(chunks[-1][0]))
    vocabulary_size = len(tokenizer.get_vocab_dict())
    lengths = np.concatenate([part[0] for part in chunks])
    mean_length = lengths.astype(np.float64).mean()
    frequencies = np.zeros(vocabulary_size, dtype=np.int64)
    for _, _, tokens, _ in chunks:
        frequencies += np.bincount(tokens, minlength=vocabulary_size)
    num_documents = len(texts)
    idf = np.zeros(vocabulary_size, dtype=np.float32)
    present = frequencies > 0
    idf[present] = np.log(1 + (num_documents - frequencies[present] + 0.5) / (frequencies[present] + 0.5))
    indptr = np.zeros(vocabulary_size + 1, dtype=np.int64)
    np.cumsum(frequencies, out=indptr[1:])
    data = np.empty(indptr[-1], dtype=np.float32)
    indices = np.empty(indptr[-1], dtype=np.int32)
    cursor = indptr[:-1].copy()
    for _, documents, tokens, term_frequencies in chunks:
        tf = term_frequencies.astype(np.float64)
        # bm25s: tf / (k1 * ((1 - b) + b * |d| / avgdl) + tf), times idf, stored as float32.
        tfc = tf / (k1 * ((1 - b) + b * lengths[documents] / mean_length) + tf)
        scores = (idf[tokens] * tfc).astype(np.float32)
        order = np.argsort(tokens, kind="stable")
        sorted_tokens = tokens[order]
        counts = np.bincount(sorted_tokens, minlength=vocabulary_size)
        rank = np.arange(len(order)) - (np.cumsum(counts) - counts)[sorted_tokens]
        destination = cursor[sorted_tokens] + rank
        data[destination] = scores[order]
        indices[destination] = documents[order]
        cursor += counts
    chunks.clear()
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": num_documents}


def index_key(doc_ids: Sequence[str], texts: Sequence[str], parameters: dict[str, Any]) -> str:
    """What the index depends on: the corpus content, the BM25 and tokenizer parameters, bm25s's version."""
    import bm25s

    described = json.dumps({**parameters, "bm25s": bm25s.__version__, "layout": 1}, sort_keys=True)
    return hashlib.blake2b(f"{corpus_fingerprint(doc_ids, texts)}|{described}".encode(), digest_size=16).hexdigest()


def save_index(folder: Path, model: Any, tokenizer: Any) -> None:
    """bm25s's files, the tokenizer's vocabulary, then the marker that says they are all there.

    Each writer stages in a folder of its own: two processes missing the cache for one corpus
    at once must not delete each other's half-written files. The first to rename wins; the
    other keeps that index."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        model.save(str(staging))
        tokenizer.save_vocab(str(staging))
        checksums = {path.name: file_crc32(path) for path in sorted(staging.iterdir())}
        marker = {"documents": int(model.scores["num_docs"]), "crc32": checksums}
        (staging / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2))
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / COMPLETE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_index(folder: Path, tokenizer: Any) -> Any | None:
    """The saved index, memory-mapped, with the tokenizer's vocabulary loaded; None when it is
    absent, incomplete or unreadable. (Each search picks its backend.)"""
    import bm25s

    try:
        marker = json.loads((folder / COMPLETE_MARKER).read_text())
        if any(file_crc32(folder / name) != crc for name, crc in marker["crc32"].items()):
            return None
        model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        tokenizer.load_vocab(str(folder))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if model.scores["num_docs"] != marker["documents"] or len(model.scores["data"]) != model.scores["indptr"][-1]:
        return None
    return model
