"""The chunked BM25 build: the same score matrix and runs as ``bm25s.BM25.index``, a saved index
reused (memory-mapped) by the next retriever, and a truncated or corrupted one built again."""

import itertools

import bm25s
import numpy as np
import pytest

from bixse.retrieval import BM25Retriever
from bixse.retrieval.bm25 import _stemmer
from bixse.retrieval.bm25_index import build_scores


@pytest.fixture()
def texts(cranfield):
    return [document.full_text for document in itertools.islice(cranfield.corpus.values(), 400)] + ["", "the of"]


def bm25s_reference(texts):
    tokenizer = bm25s.tokenization.Tokenizer(stemmer=_stemmer("english"), stopwords="en")
    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index(tokenizer.tokenize(texts, return_as="tuple", show_progress=False), show_progress=False)
    return index, tokenizer


def test_chunked_build_equals_bm25s_index(texts):
    reference, reference_tokenizer = bm25s_reference(texts)
    tokenizer = bm25s.tokenization.Tokenizer(stemmer=_stemmer("english"), stopwords="en")
    scores = build_scores(tokenizer, texts, k1=1.2, b=0.75, chunk=37)  # chunks cut documents unevenly
    assert tokenizer.get_vocab_dict() == reference_tokenizer.get_vocab_dict()
    np.testing.assert_array_equal(scores["indptr"], reference.scores["indptr"])
    for column in range(len(scores["indptr"]) - 1):
        start, stop = scores["indptr"][column], scores["indptr"][column + 1]
        ours = dict(zip(scores["indices"][start:stop].tolist(), scores["data"][start:stop].tolist()))
        theirs = dict(zip(reference.scores["indices"][start:stop].tolist(),
                          reference.scores["data"][start:stop].tolist()))
        assert ours.keys() == theirs.keys()
        np.testing.assert_allclose(list(ours.values()), [theirs[d] for d in ours], rtol=1e-6)


def corpus_of(texts):
    from bixse.collections import Document

    return {f"d{i}": Document(f"d{i}", text or "empty") for i, text in enumerate(texts)}


QUERIES = {"q1": "boundary layer transition", "q2": "heat transfer hypersonic", "q3": "zzz unknownword"}


def test_runs_equal_bm25s_and_a_saved_index_is_reused(texts, tmp_path):
    corpus = corpus_of(texts)
    built = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False)
    assert built.cache_hit is False
    reused = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False)
    assert reused.cache_hit is True
    assert isinstance(reused.index.scores["data"], np.memmap)
    reference, tokenizer = bm25s_reference([d.full_text for d in corpus.values()])
    ids = tokenizer.tokenize(list(QUERIES.values()), update_vocab=False, return_as="ids", show_progress=False)
    indices, scores = reference.retrieve(ids, k=10, show_progress=False)
    expected = {q: {f"d{i}": pytest.approx(float(s), rel=1e-6) for i, s in zip(indices[row], scores[row]) if s > 0}
                for row, q in enumerate(QUERIES)}
    expected["q3"] = {}  # unknown words only: bm25s matches the empty documents, bixse nothing
    assert built.search(QUERIES, 10) == expected
    assert reused.search(QUERIES, 10) == expected


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_saved_index_is_built_again(texts, tmp_path, damage):
    corpus = corpus_of(texts)
    first = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False).search(QUERIES, 10)
    (data,) = (tmp_path / "bm25").glob("*/data.csc.index.npy")
    raw = bytearray(data.read_bytes())
    if damage == "truncate":
        raw = raw[:-64]
    else:
        raw[-3] ^= 0x40
    data.write_bytes(bytes(raw))
    again = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False)
    assert again.cache_hit is False
    assert again.search(QUERIES, 10) == first
    assert BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False).cache_hit is True  # saved anew


def test_numba_backend_for_large_searches_gives_the_same_run(texts, tmp_path, monkeypatch):
    corpus = corpus_of(texts)
    retriever = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False)
    assert retriever.search_backend(len(QUERIES)) == "numpy"  # small: not worth numba's compilation
    on_numpy = retriever.search(QUERIES, 10)
    monkeypatch.setattr("bixse.retrieval.bm25.NUMBA_WORK", 0)
    assert retriever.search_backend(len(QUERIES)) == "numba"
    on_numba = retriever.search(QUERIES, 10)
    assert on_numba.keys() == on_numpy.keys()
    for query in QUERIES:
        assert on_numba[query] == pytest.approx(on_numpy[query], rel=1e-6)


def test_saving_leaves_another_writers_staging_alone_and_no_staging_of_its_own(texts, tmp_path):
    """Two processes missing the cache at once each stage in their own folder: neither deletes the other's."""
    corpus = corpus_of(texts)
    probe = BM25Retriever(corpus, cache_dir=tmp_path / "probe", show_progress=False)
    (key,) = [p.name for p in (tmp_path / "probe" / "bm25").iterdir()]
    other = tmp_path / "bm25" / f".{key}.partial"  # where another writer is halfway
    other.mkdir(parents=True)
    (other / "params.index.json").write_text("{}")
    built = BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False)
    assert built.cache_hit is False and (other / "params.index.json").is_file()
    assert sorted(p.name for p in (tmp_path / "bm25").iterdir()) == sorted([key, other.name])
    assert BM25Retriever(corpus, cache_dir=tmp_path, show_progress=False).search(QUERIES, 10) == probe.search(QUERIES, 10)
