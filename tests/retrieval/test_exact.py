"""Exact search: chunked top-k equals a brute-force numpy ranking, for every similarity."""

import numpy as np
import pytest

from bixse.errors import InputError
from bixse.retrieval import exact_search


def numpy_reference(queries, documents, similarity):
    if similarity == "cosine":
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        documents = documents / np.linalg.norm(documents, axis=1, keepdims=True)
    if similarity in ("cosine", "dot"):
        return queries @ documents.T
    p = 2 if similarity == "euclidean" else 1
    differences = np.abs(queries[:, None, :] - documents[None, :, :])
    return -(differences ** p).sum(-1) ** (1 / p)


@pytest.fixture()
def embeddings():
    rng = np.random.default_rng(0)
    return rng.normal(size=(23, 16)).astype(np.float32), rng.normal(size=(301, 16)).astype(np.float32)


@pytest.mark.parametrize("similarity", ["cosine", "dot", "euclidean", "manhattan"])
def test_matches_numpy_brute_force(embeddings, similarity):
    queries, documents = embeddings
    scores, indices = exact_search(queries, documents, top_k=10, similarity=similarity)
    reference = numpy_reference(queries.astype(np.float64), documents.astype(np.float64), similarity)
    expected = np.argsort(-reference, axis=1)[:, :10]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(reference, expected, 1), rtol=1e-4, atol=1e-4)


def test_chunked_equals_unchunked(embeddings):
    queries, documents = embeddings
    whole = exact_search(queries, documents, top_k=25, query_chunk=10_000, doc_chunk=10_000)
    # Chunks smaller than k, uneven last chunks: the running merge must still give the same list.
    chunked = exact_search(queries, documents, top_k=25, query_chunk=4, doc_chunk=7)
    np.testing.assert_array_equal(chunked[1], whole[1])
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-6)


def test_top_k_larger_than_corpus_returns_every_document_sorted(embeddings):
    queries, documents = embeddings
    scores, indices = exact_search(queries, documents[:5], top_k=100, doc_chunk=2)
    assert indices.shape == (23, 5)
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in indices.tolist())
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_bad_arguments_are_input_errors(embeddings):
    queries, documents = embeddings
    with pytest.raises(InputError, match="similarity"):
        exact_search(queries, documents, similarity="jaccard")
    with pytest.raises(InputError, match="top_k"):
        exact_search(queries, documents, top_k=0)
    with pytest.raises(InputError, match="shapes"):
        exact_search(queries[:, :8], documents)
