"""BM25 via bm25s: Lucene's formula by hand on a toy corpus, stemming, zero-score filtering."""

import math

import pytest

from bixse.collections import Document
from bixse.errors import InputError
from bixse.retrieval import BM25Retriever, get_retriever

TEXTS = {
    "d1": "shock wave boundary layer",
    "d2": "boundary layer layer transition",
    "d3": "heat transfer in hypersonic flow",
    "d4": "the wing runs at high speed",
}
CORPUS = {doc_id: Document(doc_id, text) for doc_id, text in TEXTS.items()}


def lucene_bm25(query, k1=1.2, b=0.75):
    """Lucene (>= 8) BM25: score(q, d) = sum_t idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl)),
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)); whitespace tokens, no stemming. (Lucene dropped
    Robertson's constant (k1 + 1) numerator factor, which never changes a ranking.)"""
    docs = {doc_id: text.split() for doc_id, text in TEXTS.items()}
    avgdl = sum(len(tokens) for tokens in docs.values()) / len(docs)
    scores = {}
    for doc_id, tokens in docs.items():
        score = 0.0
        for term in set(query.split()):
            df = sum(term in t for t in docs.values())
            if df == 0 or term not in tokens:
                continue
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            tf = tokens.count(term)
            score += idf * tf / (tf + k1 * (1 - b + b * len(tokens) / avgdl))
        if score > 0:
            scores[doc_id] = score
    return scores


def test_scores_follow_lucene_bm25_and_zero_scores_are_left_out():
    bm25 = BM25Retriever(CORPUS, stemmer=None, stopwords=None, show_progress=False)
    run = bm25.search({"q": "boundary layer transition", "q2": "hypersonic"}, top_k=10)
    expected = lucene_bm25("boundary layer transition")
    assert set(run["q"]) == {"d1", "d2"} == set(expected)
    for doc_id, score in expected.items():
        assert run["q"][doc_id] == pytest.approx(score, rel=1e-5)
    assert list(run["q2"]) == ["d3"]


def test_stemming_and_stopwords_by_default():
    bm25 = get_retriever("BM25", CORPUS, show_progress=False)
    assert isinstance(bm25, BM25Retriever)
    hits = bm25.search_text("running", top_k=3)
    assert [doc_id for doc_id, _ in hits] == ["d4"]  # "running" and "runs" share the stem "run"
    assert bm25.search({"q": "the"}, top_k=3) == {"q": {}}  # a stop word matches nothing


def test_a_query_of_unknown_words_matches_nothing_not_the_empty_documents():
    corpus = {**CORPUS, "d5": Document("d5", "the of and")}  # stop words only: indexed as the empty token
    bm25 = BM25Retriever(corpus, show_progress=False, cache=False)
    run = bm25.search({"unknown": "zzzz qqqq", "stop": "the", "known": "zzzz shock"}, top_k=5)
    assert run["unknown"] == {} and run["stop"] == {}
    assert list(run["known"]) == ["d1"]


def test_top_k_is_capped_at_corpus_size_and_bad_queries_rejected():
    bm25 = BM25Retriever(CORPUS, show_progress=False)
    assert len(bm25.search({"q": "layer wing heat shock"}, top_k=50)["q"]) == 4
    with pytest.raises(InputError, match="empty text"):
        bm25.search({"q": "  "})
    with pytest.raises(InputError, match="top_k"):
        bm25.search({"q": "layer"}, top_k=0)
    with pytest.raises(InputError, match="empty corpus"):
        BM25Retriever({})
