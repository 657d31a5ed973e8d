"""BM25, the lexical baseline every table needs, via bm25s (Lù, "BM25S: Orders of magnitude
faster lexical search via eager sparse scoring", arXiv 2407.03618).

Defaults follow what BEIR reports as BM25 (Elasticsearch/Lucene): Lucene's BM25 variant,
score(q, d) = sum over query terms t of idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl)) with
idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.2, b = 0.75; lower-casing, English stop
words and the Snowball English stemmer (PyStemmer). Documents are indexed as
``Document.full_text`` (title + text).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bixse.collections import Document, Run
from bixse.errors import InputError
from bixse.retrieval.base import Retriever, check_queries
from bixse.retrieval.cache import corpus_texts
from bixse.progress import should_show


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
        self.tokenizer = bm25s.tokenization.Tokenizer(stemmer=_stemmer(stemmer), stopwords=stopwords or None)
        corpus_tokens = self.tokenizer.tokenize(texts, return_as="tuple", show_progress=self.show_progress)
        self.index = bm25s.BM25(k1=k1, b=b, method=method)
        self.index.index(corpus_tokens, show_progress=self.show_progress)

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        check_queries(queries, top_k)
        query_ids = list(queries)
        query_tokens = self.tokenizer.tokenize([queries[q] for q in query_ids], update_vocab=False,
                                               return_as="ids", show_progress=False)
        k = min(top_k, len(self.doc_ids))
        indices, scores = self.index.retrieve(query_tokens, k=k, show_progress=self.show_progress)
        run: Run = {}
        for row, query_id in enumerate(query_ids):
            # A document sharing no term with the query scores 0: it was not retrieved, only
            # padded in to fill k, so it is left out rather than ranked arbitrarily.
            keep = scores[row] > 0
            run[query_id] = {self.doc_ids[i]: float(s) for i, s in zip(indices[row][keep], scores[row][keep])}
        return run

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        return f"BM25Retriever({len(self.doc_ids)} documents, {params})"

