"""The retriever interface: queries in, a TREC-shaped run out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from bixse.collections import Run
from bixse.errors import InputError


def check_queries(queries: Mapping[str, str], top_k: int) -> None:
    if top_k <= 0:
        raise InputError(f"top_k must be positive, got {top_k}", field="top_k")
    for query_id, text in queries.items():
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"query '{query_id}' has an empty text", field="queries")


def run_from_topk(query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray,
                  indices: np.ndarray) -> Run:
    """Turn ``(scores, indices)`` rows (one per query, as search functions return) into a run.

    FAISS marks missing neighbours with index -1; those are skipped.
    """
    run: Run = {}
    for row, query_id in enumerate(query_ids):
        run[query_id] = {doc_ids[i]: float(s) for i, s in zip(indices[row].tolist(), scores[row].tolist()) if i >= 0}
    return run


class Retriever(ABC):
    """Anything that ranks a fixed corpus for a batch of queries."""

    name: str

    @abstractmethod
    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        """Top ``top_k`` documents per query: query id -> doc id -> score (higher is better)."""

    def search_text(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        """One query's ``(doc_id, score)`` hits, best first."""
        hits = self.search({"query": text}, top_k)["query"]
        return sorted(hits.items(), key=lambda item: (-item[1], item[0]))
