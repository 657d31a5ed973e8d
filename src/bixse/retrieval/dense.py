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
from bixse.progress import progress_bar
from bixse.retrieval.cache import (
    SHARD_ROWS,
    STORAGE_DTYPES,
    EmbeddingCache,
    corpus_fingerprint,
    corpus_texts,
    model_fingerprint,
    shard_ranges,
)
from bixse.retrieval.exact import exact_search
from bixse.retrieval.shards import EmbeddingShards
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
        storage: ``float32`` or ``float16`` for the corpus embeddings on disk (half the disk and
            reads; scores are computed in float32 either way).
        shard_rows: documents per embedding shard (what one encoding step holds in memory).
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
        storage: str = "float32",
        shard_rows: int = SHARD_ROWS,
    ) -> None:
        from bixse.models import load_sentence_transformer

        check_dense_options(search, precision)
        if storage not in STORAGE_DTYPES:
            raise InputError(f"unknown embedding storage '{storage}' (expected one of {', '.join(STORAGE_DTYPES)})",
                             field="storage")
        if shard_rows <= 0:
            raise InputError(f"shard_rows must be positive, got {shard_rows}", field="shard_rows")
        if not corpus:
            raise InputError("cannot index an empty corpus", field="corpus")
        by_name = isinstance(model, (str, Path))
        self.name = label or display_name(model)
        self.model = load_sentence_transformer(model, device=device) if by_name else model
        self.precision = encoding.resolve_precision(precision, self.model.device)
        self.similarity = self.model.similarity_fn_name or "cosine"
        self.search_method = search
        self.batch_size = batch_size
        self.storage = storage
        self.shard_rows = shard_rows
        self.show_progress = show_progress
        self.cache = EmbeddingCache(cache_dir) if (by_name if cache is None else cache) else None
        self.hnsw = {"hnsw_m": hnsw_m, "ef_construction": ef_construction}
        self.ef_search = ef_search
        self.doc_ids, self._texts = corpus_texts(corpus)
        self._document_embeddings: EmbeddingShards | None = None
        self._index: Any = None
        self.cache_hit: bool | None = None

    @property
    def document_embeddings(self) -> EmbeddingShards:
        """Corpus embeddings (corpus order) as shards: from the cache (files, read a block at a
        time), or encoded now, shard by shard, each cached as soon as it is done."""
        if self._document_embeddings is None:
            self._document_embeddings = self._load_or_encode()
        return self._document_embeddings

    def _load_or_encode(self) -> EmbeddingShards:
        ranges = shard_ranges(len(self.doc_ids), self.shard_rows)
        shards: dict[int, Any] = {}
        key = None
        if self.cache is not None:
            corpus_digest = corpus_fingerprint(self.doc_ids, self._texts)
            key = self.cache.key(model_fingerprint(self.model), corpus_digest, self.precision, self.storage)
            shards = self.cache.valid_shards(key, len(self.doc_ids), self.shard_rows)
            self.cache_hit = len(shards) == len(ranges)
        missing = [index for index in range(len(ranges)) if index not in shards]
        total = sum(ranges[i][1] - ranges[i][0] for i in missing)
        metadata = {"model": self.name, "precision": self.precision, "documents": len(self.doc_ids),
                    "shard_rows": self.shard_rows}
        with progress_bar(total, f"encoding corpus ({self.name})", self.show_progress) as advance:
            for index in missing:
                start, stop = ranges[index]
                vectors = encoding.encode_texts(self.model, self._texts[start:stop], kind="document",
                                                batch_size=self.batch_size, precision=self.precision,
                                                advance=advance)
                if self.cache is not None and key is not None:
                    shards[index] = self.cache.store_shard(key, index, vectors, metadata, self.storage)
                else:
                    shards[index] = vectors.astype(self.storage, copy=False)
        return EmbeddingShards([shards[index] for index in range(len(ranges))])

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
