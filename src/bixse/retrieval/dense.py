"""Dense retrieval with a sentence-transformers bi-encoder: encode the corpus once (cached on
disk), then search exactly or with a FAISS index."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bixse.collections import Document, Run
from bixse.errors import InputError
from bixse.retrieval import encoding
from bixse.retrieval.base import Retriever, check_queries, run_from_topk
from bixse.retrieval.cache import EmbeddingCache, corpus_fingerprint, corpus_texts, model_fingerprint
from bixse.retrieval.exact import exact_search
from bixse.retrieval.faiss_index import INDEX_KINDS, build_faiss_index, faiss_search, import_faiss

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SEARCH_METHODS: tuple[str, ...] = ("exact", *INDEX_KINDS)


def check_dense_options(search: str = "exact", precision: str = "auto") -> None:
    """Reject a search method or precision no dense retriever takes (and a FAISS search without
    FAISS installed) before any model is loaded or text encoded."""
    if search not in SEARCH_METHODS:
        raise InputError(f"unknown search method '{search}' (expected one of {', '.join(SEARCH_METHODS)})",
                         field="search")
    encoding.check_precision(precision)
    if search in INDEX_KINDS:
        import_faiss()


def display_name(model: Any) -> str:
    """A short label for tables: the name as given, or a folder's name for a path."""
    if isinstance(model, (str, Path)):
        text = str(model)
        return Path(text).name if Path(text).expanduser().exists() else text
    path = getattr(model, "model_card_data", None)
    base = getattr(path, "base_model", None) if path is not None else None
    return str(base) if base else type(model).__name__


class DenseRetriever(Retriever):
    """Bi-encoder retrieval over ``corpus``.

    Args:
        model: a model name or folder (resolved with ``bixse.models``: ``default`` is the
            packaged all-MiniLM-L6-v2) or an already-loaded ``SentenceTransformer``.
        corpus: doc id -> ``Document``; ``Document.full_text`` is encoded.
        search: ``exact`` (chunked matrix product + top-k), ``flat`` (FAISS, exact) or
            ``hnsw`` (FAISS, approximate).
        cache: keep corpus embeddings on disk (see ``bixse.retrieval.cache``). Default: on for
            a model given by name, off for a model object (a model being trained changes
            between calls; caching each state would only fill the disk).
        cache_dir: where; default ``$BIXSE_CACHE`` or ``~/.cache/bixse``.
        precision: ``auto`` (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32), ``fp32``, ``bf16`` or ``fp16``.
        batch_size: texts per forward pass.
        device: where to load a named model (default: sentence-transformers' choice).
        label: the name shown in tables (default: the model name, or a folder's name).

    >>> from bixse.collections import load
    >>> retriever = DenseRetriever("default", load("cranfield").corpus)
    >>> run = retriever.search({"q1": "boundary layer transition"}, top_k=10)
    """

    def __init__(
        self,
        model: str | Path | SentenceTransformer,
        corpus: Mapping[str, Document],
        *,
        search: str = "exact",
        cache: bool | None = None,
        cache_dir: str | Path | None = None,
        precision: str = "auto",
        batch_size: int = 32,
        device: str | None = None,
        show_progress: bool | None = None,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        label: str | None = None,
    ) -> None:
        from bixse.models import load_sentence_transformer

        check_dense_options(search, precision)
        if not corpus:
            raise InputError("cannot index an empty corpus", field="corpus")
        by_name = isinstance(model, (str, Path))
        self.name = label or display_name(model)
        self.model = load_sentence_transformer(model, device=device) if by_name else model
        self.precision = encoding.resolve_precision(precision, self.model.device)
        self.similarity = self.model.similarity_fn_name or "cosine"
        self.search_method = search
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.cache = EmbeddingCache(cache_dir) if (by_name if cache is None else cache) else None
        self.hnsw = {"hnsw_m": hnsw_m, "ef_construction": ef_construction}
        self.ef_search = ef_search
        self.doc_ids, self._texts = corpus_texts(corpus)
        self._document_embeddings: np.ndarray | None = None
        self._index: Any = None
        self.cache_hit: bool | None = None

    @property
    def document_embeddings(self) -> np.ndarray:
        """Corpus embeddings (float32, corpus order): from the cache, or encoded now and cached."""
        if self._document_embeddings is None:
            self._document_embeddings = self._load_or_encode()
        return self._document_embeddings

    def _load_or_encode(self) -> np.ndarray:
        key = None
        if self.cache is not None:
            corpus_digest = corpus_fingerprint(self.doc_ids, self._texts)
            key = self.cache.key(model_fingerprint(self.model), corpus_digest, self.precision)
            cached = self.cache.load(key, len(self.doc_ids))
            self.cache_hit = cached is not None
            if cached is not None:
                return cached
        embeddings = encoding.encode_texts(self.model, self._texts, kind="document", batch_size=self.batch_size,
                                           precision=self.precision, show_progress=self.show_progress,
                                           description=f"encoding corpus ({self.name})")
        if self.cache is not None and key is not None:
            self.cache.store(key, embeddings, {"model": self.name, "precision": self.precision,
                                               "documents": len(self.doc_ids)})
        return embeddings

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return encoding.encode_texts(self.model, texts, kind="query", batch_size=self.batch_size,
                                     precision=self.precision, show_progress=False)

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        check_queries(queries, top_k)
        query_ids = list(queries)
        documents = self.document_embeddings
        query_embeddings = self.encode_queries([queries[q] for q in query_ids])
        if self.search_method == "exact":
            scores, indices = exact_search(query_embeddings, documents, top_k, self.similarity)
        else:
            if self._index is None:
                self._index = build_faiss_index(documents, self.search_method, self.similarity, **self.hnsw)
            scores, indices = faiss_search(self._index, query_embeddings, top_k, self.similarity,
                                           ef_search=self.ef_search)
        return run_from_topk(query_ids, self.doc_ids, scores, indices)

    def __repr__(self) -> str:
        return (f"DenseRetriever({self.name!r}, {len(self.doc_ids)} documents, search={self.search_method}, "
                f"similarity={self.similarity}, precision={self.precision})")
