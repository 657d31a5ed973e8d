"""``get_retriever``: one entry point from a model name to a retriever."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bixse.collections import Document
from bixse.retrieval.base import Retriever

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LEXICAL = ("bm25",)


def get_retriever(name: str | Path | SentenceTransformer, corpus: Mapping[str, Document],
                  **options: Any) -> Retriever:
    """``"bm25"`` -> ``BM25Retriever``; anything else (a model name, folder or a loaded
    ``SentenceTransformer``) -> ``DenseRetriever``. ``options`` go to that class.

    >>> from bixse.collections import load
    >>> corpus = load("cranfield").corpus
    >>> run = get_retriever("bm25", corpus).search({"q1": "heat transfer"}, top_k=100)
    >>> dense = get_retriever("all-MiniLM-L6-v2", corpus, search="hnsw", precision="bf16")
    """
    if isinstance(name, str) and name.lower() in LEXICAL:
        from bixse.retrieval.bm25 import BM25Retriever

        return BM25Retriever(corpus, **options)
    from bixse.retrieval.dense import DenseRetriever

    return DenseRetriever(name, corpus, **options)
