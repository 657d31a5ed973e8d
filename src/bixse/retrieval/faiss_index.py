"""FAISS indexes over corpus embeddings: ``flat`` (exact, same ranking as ``exact_search``) and
``hnsw`` (approximate graph search; Malkov & Yashunin, "Efficient and robust approximate nearest
neighbor search using Hierarchical Navigable Small World graphs", arXiv 1603.09320).

Install with ``pip install bixse[faiss]`` (``faiss-cpu``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from bixse.errors import InputError
from bixse.retrieval.shards import EmbeddingShards, as_shards

IndexKind = Literal["flat", "hnsw"]
ADD_BLOCK_ROWS = 65_536
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw")


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise InputError("FAISS is not installed: pip install 'bixse[faiss]' (faiss-cpu)", field="faiss") from None
    return faiss


def _prepare(embeddings: np.ndarray, similarity: str) -> np.ndarray:
    prepared = np.ascontiguousarray(embeddings, dtype=np.float32)
    if similarity == "cosine":
        norms = np.linalg.norm(prepared, axis=1, keepdims=True)
        prepared = prepared / np.maximum(norms, 1e-12)
    return prepared


def build_faiss_index(
    document_embeddings: np.ndarray | EmbeddingShards,
    kind: IndexKind | str = "flat",
    similarity: str = "cosine",
    *,
    hnsw_m: int = 32,
    ef_construction: int = 200,
) -> Any:
    """A FAISS index of ``document_embeddings`` (row i = document i).

    ``cosine`` and ``dot`` use inner product (cosine on L2-normalised vectors); ``euclidean``
    uses L2. ``hnsw_m`` is the graph degree, ``ef_construction`` the build-time beam width.
    The vectors are added a block at a time (normalised per block for cosine), so building holds
    the index's own copy plus one block: never a second copy of the corpus.
    """
    if kind not in INDEX_KINDS:
        raise InputError(f"unknown FAISS index '{kind}' (expected one of {', '.join(INDEX_KINDS)})", field="faiss")
    if similarity not in ("cosine", "dot", "euclidean"):
        raise InputError(f"FAISS indexes support cosine, dot and euclidean similarity, not '{similarity}'",
                         field="similarity")
    faiss = import_faiss()
    shards = as_shards(document_embeddings)
    metric = faiss.METRIC_L2 if similarity == "euclidean" else faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        index = faiss.IndexFlat(shards.dim, metric)
    else:
        index = faiss.IndexHNSWFlat(shards.dim, hnsw_m, metric)
        index.hnsw.efConstruction = ef_construction
    for _, block in shards.blocks(ADD_BLOCK_ROWS):
        index.add(_prepare(block, similarity))
    return index


def faiss_search(
    index: Any,
    query_embeddings: np.ndarray,
    top_k: int = 100,
    similarity: str = "cosine",
    *,
    ef_search: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, indices)`` like ``exact_search``: best first, euclidean as negative distance.

    For HNSW, ``ef_search`` (raised to at least ``top_k``) trades speed for recall.
    """
    faiss = import_faiss()
    k = min(top_k, index.ntotal)
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = max(ef_search, k)
    scores, indices = index.search(_prepare(query_embeddings, similarity), k)
    if similarity == "euclidean":
        # IndexFlat/HNSW with METRIC_L2 return squared distances.
        scores = -np.sqrt(np.maximum(scores, 0.0))
    del faiss
    return scores.astype(np.float32), indices.astype(np.int64)
