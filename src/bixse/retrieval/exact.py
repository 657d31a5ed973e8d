"""Exact (brute-force) top-k search with bounded memory.

Scores are computed one block of ``query_chunk x doc_chunk`` at a time and each block's top-k
is merged into a running top-k per query, so peak memory is one block (32 MB at the defaults)
whatever the corpus size, instead of the full ``num_queries x num_docs`` score matrix.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from bixse.errors import InputError

Similarity = Literal["cosine", "dot", "euclidean", "manhattan"]
SIMILARITIES: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan")


def _as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(array)
    return tensor.float() if tensor.dtype != torch.float32 else tensor


def _block_scores(queries: torch.Tensor, documents: torch.Tensor, similarity: str) -> torch.Tensor:
    if similarity in ("cosine", "dot"):
        return queries @ documents.T
    # Distances become similarities by negation, so "higher is better" holds for every function.
    return -torch.cdist(queries, documents, p=2.0 if similarity == "euclidean" else 1.0)


def exact_search(
    query_embeddings: np.ndarray | torch.Tensor,
    document_embeddings: np.ndarray | torch.Tensor,
    top_k: int = 100,
    similarity: Similarity | str = "cosine",
    *,
    query_chunk: int = 256,
    doc_chunk: int = 32_768,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k documents for each query: ``(scores, indices)``, both ``(num_queries, k)``,
    best first, with ``k = min(top_k, num_documents)``.

    ``similarity`` follows sentence-transformers' ``similarity_fn_name``: ``cosine`` (both
    sides L2-normalised, then dot product), ``dot``, ``euclidean`` and ``manhattan`` (scores
    are negative distances).
    """
    if similarity not in SIMILARITIES:
        raise InputError(f"unknown similarity '{similarity}' (expected one of {', '.join(SIMILARITIES)})",
                         field="similarity")
    if top_k <= 0:
        raise InputError(f"top_k must be positive, got {top_k}", field="top_k")
    queries = _as_tensor(query_embeddings)
    documents = _as_tensor(document_embeddings)
    if queries.ndim != 2 or documents.ndim != 2 or queries.shape[1] != documents.shape[1]:
        raise InputError(f"embedding shapes do not match: queries {tuple(queries.shape)}, "
                         f"documents {tuple(documents.shape)}", field="embeddings")
    if similarity == "cosine":
        queries = torch.nn.functional.normalize(queries, dim=1)
        documents = torch.nn.functional.normalize(documents, dim=1)
    num_queries, num_documents = queries.shape[0], documents.shape[0]
    k = min(top_k, num_documents)
    all_scores = np.empty((num_queries, k), dtype=np.float32)
    all_indices = np.empty((num_queries, k), dtype=np.int64)
    with torch.inference_mode():
        for q_start in range(0, num_queries, query_chunk):
            query_block = queries[q_start:q_start + query_chunk]
            best_scores = best_indices = None
            for d_start in range(0, num_documents, doc_chunk):
                scores = _block_scores(query_block, documents[d_start:d_start + doc_chunk], similarity)
                block_scores, block_indices = torch.topk(scores, min(k, scores.shape[1]), dim=1)
                block_indices += d_start
                if best_scores is None:
                    best_scores, best_indices = block_scores, block_indices
                    continue
                merged_scores = torch.cat([best_scores, block_scores], dim=1)
                merged_indices = torch.cat([best_indices, block_indices], dim=1)
                best_scores, positions = torch.topk(merged_scores, min(k, merged_scores.shape[1]), dim=1)
                best_indices = torch.gather(merged_indices, 1, positions)
            assert best_scores is not None and best_indices is not None
            all_scores[q_start:q_start + len(query_block)] = best_scores.numpy()
            all_indices[q_start:q_start + len(query_block)] = best_indices.numpy()
    return all_scores, all_indices
