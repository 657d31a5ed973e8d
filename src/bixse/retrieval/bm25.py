"""BM25, the lexical baseline every table needs, via bm25s (Lù, "BM25S: Orders of magnitude
faster lexical search via eager sparse scoring", arXiv 2407.03618).

Defaults follow what BEIR reports as BM25 (Elasticsearch/Lucene): Lucene's BM25 variant,
score(q, d) = sum over query terms t of idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl)) with
idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.2, b = 0.75; lower-casing, English stop
words and the Snowball English stemmer (PyStemmer). Documents are indexed as
``Document.full_text`` (title + text).

Scale: the index is built a chunk of documents at a time (``bixse.retrieval.bm25_index``: the
same matrix as ``bm25s.BM25.index``, in bounded memory), saved under ``<cache>/bm25/<key>`` and
memory-mapped on reuse. Queries are scored on bm25s's numpy backend with one thread per core,
or, for a search large enough to repay numba's compilation (about 20 s a process: bm25s does not
cache it), on its numba backend (``NUMBA_WORK`` query-document pairs, e.g. 5,000 queries over 1M
documents; numba is a dependency).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bixse.collections import Document, Run
from bixse.errors import InputError
from bixse.retrieval.base import Retriever, check_queries
from bixse.progress import progress_bar, should_show
from bixse.retrieval import bm25_index
from bixse.retrieval.cache import corpus_texts, default_cache_dir

# Query-document pairs from which a search goes to bm25s's numba backend (see the module docstring).
NUMBA_WORK = 5_000_000_000


def _stemmer(language: str | None):
    if language is None:
        return None
    try:
        import Stemmer
    except ImportError:
        raise InputError("BM25 stemming needs PyStemmer: pip install PyStemmer (or pass stemmer=None)",
                         field="stemmer") from None
    try:
        return Stemmer.Stemmer(language)
    except KeyError:
        raise InputError(f"no Snowball stemmer for language '{language}'", field="stemmer") from None


class BM25Retriever(Retriever):
    """BM25 over ``corpus``; see the module docstring for the defaults.

    >>> from bixse.collections import load
    >>> bm25 = BM25Retriever(load("cranfield").corpus)
    >>> run = bm25.search({"q1": "boundary layer transition"}, top_k=10)
    """

    def __init__(
        self,
        corpus: Mapping[str, Document],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "en",
        show_progress: bool | None = None,
        cache: bool = True,
        cache_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG on import, which floods any application log.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        if not corpus:
            raise InputError("cannot index an empty corpus", field="corpus")
        self.name = "bm25"
        self.parameters = {"k1": k1, "b": b, "method": method, "stemmer": stemmer, "stopwords": stopwords}
        self.show_progress = should_show(show_progress)
        self.doc_ids, texts = corpus_texts(corpus)
        self.threads = threads or os.cpu_count() or 1
        self.tokenizer = bm25s.tokenization.Tokenizer(stemmer=_stemmer(stemmer), stopwords=stopwords or None)
        folder = None
        if cache:
            root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
            folder = root / "bm25" / bm25_index.index_key(self.doc_ids, texts, self.parameters)
        self.index = bm25_index.load_index(folder, self.tokenizer) if folder is not None else None
        self.cache_hit = self.index is not None if folder is not None else None
        if self.index is None:
            self.index = self._build(texts)
            if folder is not None:
                bm25_index.save_index(folder, self.index, self.tokenizer)
        self.index.unique_token_ids_set = set(self.index.vocab_dict.values())

    def _build(self, texts: list[str]) -> Any:
        import bm25s

        index = bm25s.BM25(k1=self.parameters["k1"], b=self.parameters["b"], method=self.parameters["method"])
        if index.method != "lucene":  # the chunked build scores as Lucene does; others index the bm25s way
            index.index(self.tokenizer.tokenize(texts, return_as="tuple", show_progress=self.show_progress),
                        show_progress=self.show_progress)
            return index
        with progress_bar(len(texts), "indexing for BM25", self.show_progress) as advance:
            index.scores = bm25_index.build_scores(self.tokenizer, texts, k1=index.k1, b=index.b, advance=advance)
        index.vocab_dict = self.tokenizer.get_vocab_dict()
        index.nonoccurrence_array = None
        return index

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        check_queries(queries, top_k)
        query_ids = list(queries)
        query_tokens = self.tokenizer.tokenize([queries[q] for q in query_ids], update_vocab=False,
                                               return_as="ids", show_progress=False)
        k = min(top_k, len(self.doc_ids))
        self.index.backend = self.search_backend(len(query_ids))
        indices, scores = self.index.retrieve(query_tokens, k=k, show_progress=self.show_progress,
                                              n_threads=self.threads)
        # bm25s turns a query of unknown words into its empty token, which documents that tokenized
        # to nothing (all stop words) carry with a positive score: such a query matches nothing.
        empty = self.index.vocab_dict.get("")
        blank = [empty is not None and all(token == empty for token in tokens) for tokens in query_tokens]
        run: Run = {}
        for row, query_id in enumerate(query_ids):
            # A document sharing no term with the query scores 0: it was not retrieved, only
            # padded in to fill k, so it is left out rather than ranked arbitrarily.
            keep = (scores[row] > 0) & (not blank[row])
            run[query_id] = {self.doc_ids[i]: float(s) for i, s in zip(indices[row][keep], scores[row][keep])}
        return run

    def search_backend(self, num_queries: int) -> str:
        """``numba`` when this many queries repay its compilation and numba is installed, else ``numpy``."""
        large = num_queries * len(self.doc_ids) >= NUMBA_WORK
        return "numba" if large and importlib.util.find_spec("numba") is not None else "numpy"

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        return f"BM25Retriever({len(self.doc_ids)} documents, {params})"

