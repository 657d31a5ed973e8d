"""Dense retrieval end to end on the tiny model: exact == FAISS flat, get_retriever dispatch."""

import itertools

import numpy as np
import pytest

from bixse.errors import InputError
from bixse.retrieval import BM25Retriever, DenseRetriever, get_retriever


@pytest.fixture()
def corpus(cranfield):
    return dict(itertools.islice(cranfield.corpus.items(), 200))


@pytest.fixture()
def queries(cranfield):
    return {qid: cranfield.queries[qid] for qid in cranfield.query_ids("dev")[:10]}


def test_exact_and_faiss_flat_give_the_same_run(tiny_model, corpus, queries):
    pytest.importorskip("faiss")
    exact = DenseRetriever(tiny_model, corpus, show_progress=False)
    flat = DenseRetriever(tiny_model, corpus, search="flat", show_progress=False)
    flat._document_embeddings = exact.document_embeddings  # same vectors, only the search differs
    exact_run, flat_run = exact.search(queries, 20), flat.search(queries, 20)
    assert exact_run.keys() == flat_run.keys()
    for query_id in queries:
        assert list(exact_run[query_id]) == list(flat_run[query_id])
        np.testing.assert_allclose(list(exact_run[query_id].values()), list(flat_run[query_id].values()),
                                   rtol=1e-4, atol=1e-5)


def test_run_scores_are_cosine_similarities(tiny_model, corpus, queries):
    dense = DenseRetriever(tiny_model, corpus, show_progress=False)
    run = dense.search(queries, 5)
    query_id = next(iter(queries))
    query = tiny_model.encode_query([queries[query_id]])[0]
    for doc_id, score in run[query_id].items():
        document = tiny_model.encode_document([corpus[doc_id].full_text])[0]
        cosine = query @ document / np.linalg.norm(query) / np.linalg.norm(document)
        assert score == pytest.approx(float(cosine), abs=1e-4)
    assert len(run[query_id]) == 5 and list(run[query_id].values()) == sorted(run[query_id].values(), reverse=True)


def test_get_retriever_dispatches_on_the_name(tiny_model, tiny_model_path, corpus, tmp_path):
    assert isinstance(get_retriever("bm25", corpus, show_progress=False), BM25Retriever)
    by_path = get_retriever(str(tiny_model_path), corpus, cache_dir=tmp_path, show_progress=False)
    assert isinstance(by_path, DenseRetriever) and by_path.name == tiny_model_path.name
    assert isinstance(get_retriever(tiny_model, corpus, label="tiny"), DenseRetriever)
    with pytest.raises(InputError, match="model folder does not exist"):
        get_retriever(str(tmp_path / "missing"), corpus)
    with pytest.raises(InputError, match="unknown search method"):
        get_retriever(tiny_model, corpus, search="ivf")
