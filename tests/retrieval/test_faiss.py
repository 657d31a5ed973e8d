"""FAISS flat returns exactly the exact-search ranking; HNSW nearly so."""

import numpy as np
import pytest

from bixse.errors import InputError
from bixse.retrieval import build_faiss_index, exact_search, faiss_search

pytest.importorskip("faiss")


@pytest.fixture()
def embeddings():
    rng = np.random.default_rng(1)
    return rng.normal(size=(40, 24)).astype(np.float32), rng.normal(size=(800, 24)).astype(np.float32)


@pytest.mark.parametrize("similarity", ["cosine", "dot", "euclidean"])
def test_flat_index_ranks_like_exact_search(embeddings, similarity):
    queries, documents = embeddings
    exact_scores, exact_indices = exact_search(queries, documents, top_k=20, similarity=similarity)
    index = build_faiss_index(documents, "flat", similarity)
    flat_scores, flat_indices = faiss_search(index, queries, top_k=20, similarity=similarity)
    np.testing.assert_array_equal(flat_indices, exact_indices)
    np.testing.assert_allclose(flat_scores, exact_scores, rtol=1e-4, atol=1e-4)


def test_hnsw_recovers_most_exact_neighbours(embeddings):
    queries, documents = embeddings
    _, exact_indices = exact_search(queries, documents, top_k=10)
    index = build_faiss_index(documents, "hnsw", "cosine", hnsw_m=16, ef_construction=100)
    scores, indices = faiss_search(index, queries, top_k=10, ef_search=200)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(indices.tolist(), exact_indices.tolist())])
    assert overlap >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_unsupported_choices_are_input_errors(embeddings):
    _, documents = embeddings
    with pytest.raises(InputError, match="unknown FAISS index"):
        build_faiss_index(documents, "ivf")
    with pytest.raises(InputError, match="manhattan"):
        build_faiss_index(documents, "flat", "manhattan")
