"""Retrieval: encode a corpus (cached), search it (exact, FAISS flat or HNSW, or BM25), get a run.

>>> from bixse.collections import load
>>> from bixse.retrieval import get_retriever
>>> cranfield = load("cranfield")
>>> run = get_retriever("bm25", cranfield.corpus).search(cranfield.subset("test").queries, top_k=100)
"""

from bixse.retrieval.base import Retriever, run_from_topk
from bixse.retrieval.bm25 import BM25Retriever
from bixse.retrieval.cache import EmbeddingCache, corpus_fingerprint, default_cache_dir, model_fingerprint
from bixse.retrieval.dense import SEARCH_METHODS, DenseRetriever
from bixse.retrieval.encoding import PRECISIONS, encode_texts, resolve_precision
from bixse.retrieval.exact import SIMILARITIES, exact_search
from bixse.retrieval.factory import get_retriever
from bixse.retrieval.shards import EmbeddingShards
from bixse.retrieval.faiss_index import build_faiss_index, faiss_search

__all__ = [
    "BM25Retriever", "DenseRetriever", "EmbeddingCache", "EmbeddingShards", "PRECISIONS", "Retriever", "SEARCH_METHODS",
    "SIMILARITIES", "build_faiss_index", "corpus_fingerprint", "default_cache_dir", "encode_texts",
    "exact_search", "faiss_search", "get_retriever", "model_fingerprint", "resolve_precision", "run_from_topk",
]
