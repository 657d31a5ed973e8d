"""The corpus-embedding cache: reused on a second call, invalidated by any change of model
weights, corpus text or precision, and robust to a corrupt file."""

import itertools

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from bixse.collections import Document
from bixse.retrieval import DenseRetriever, EmbeddingCache, model_fingerprint


@pytest.fixture()
def corpus(cranfield):
    return dict(itertools.islice(cranfield.corpus.items(), 40))


def counting(model):
    """Wrap ``model.encode_document`` to count the texts it encodes."""
    calls = {"texts": 0}
    original = model.encode_document

    def wrapper(batch, **kwargs):
        calls["texts"] += len(batch)
        return original(batch, **kwargs)

    model.encode_document = wrapper
    return calls


def retriever(model, corpus, cache_dir, precision="fp32", **options):
    return DenseRetriever(model, corpus, cache=True, cache_dir=cache_dir, batch_size=16, show_progress=False,
                          precision=precision, **options)


def test_second_call_reuses_the_cache(tiny_model_path, corpus, tmp_path):
    first_model = SentenceTransformer(str(tiny_model_path), device="cpu")
    first_calls = counting(first_model)
    first = retriever(first_model, corpus, tmp_path)
    embeddings = first.document_embeddings
    assert first.cache_hit is False and first_calls["texts"] == 40
    assert len(list((tmp_path / "embeddings").glob("*/shard-*.npy"))) == 1

    second_model = SentenceTransformer(str(tiny_model_path), device="cpu")  # a new object, same content
    second_calls = counting(second_model)
    second = retriever(second_model, corpus, tmp_path)
    np.testing.assert_array_equal(second.document_embeddings, embeddings)
    assert second.cache_hit is True and second_calls["texts"] == 0
    query = {"q": corpus[next(iter(corpus))].text}
    assert second.search(query, 5) == first.search(query, 5)


def test_changed_weights_miss_the_cache(tiny_model_path, corpus, tmp_path):
    model = SentenceTransformer(str(tiny_model_path), device="cpu")
    before = retriever(model, corpus, tmp_path).document_embeddings
    fingerprint = model_fingerprint(model)
    with torch.no_grad():
        # As one training step would. (A uniform shift would not do: LayerNorm cancels it.)
        torch.manual_seed(0)
        parameter = next(model.parameters())
        parameter.add_(0.05 * torch.randn_like(parameter))
    assert model_fingerprint(model) != fingerprint
    calls = counting(model)
    changed = retriever(model, corpus, tmp_path)
    after = changed.document_embeddings
    assert changed.cache_hit is False and calls["texts"] == 40
    assert not np.allclose(before, after)


def test_model_saved_over_the_same_folder_misses_the_cache(tiny_model_path, corpus, tmp_path):
    folder = tmp_path / "model"
    SentenceTransformer(str(tiny_model_path), device="cpu").save(str(folder))
    by_name = DenseRetriever(str(folder), corpus, cache_dir=tmp_path / "cache", show_progress=False)
    assert by_name.cache is not None  # a model given by name caches by default
    by_name.document_embeddings
    assert by_name.cache_hit is False
    second_run = DenseRetriever(str(folder), corpus, cache_dir=tmp_path / "cache", show_progress=False)
    second_calls = counting(second_run.model)
    np.testing.assert_array_equal(second_run.document_embeddings, by_name.document_embeddings)
    assert second_run.cache_hit is True and second_calls["texts"] == 0  # a second run re-encodes nothing
    retrained = SentenceTransformer(str(folder), device="cpu")
    with torch.no_grad():
        for parameter in retrained.parameters():
            parameter.mul_(0.9)
    retrained.save(str(folder))
    again = DenseRetriever(str(folder), corpus, cache_dir=tmp_path / "cache", show_progress=False)
    again.document_embeddings
    assert again.cache_hit is False
    assert len(list((tmp_path / "cache" / "embeddings").glob("*/shard-*.npy"))) == 2


def test_changed_corpus_or_precision_misses_the_cache(tiny_model, corpus, tmp_path):
    retriever(tiny_model, corpus, tmp_path).document_embeddings
    edited = dict(corpus)
    first_id = next(iter(edited))
    edited[first_id] = Document(first_id, edited[first_id].text + " (revised)", edited[first_id].title)
    calls = counting(tiny_model)
    changed = retriever(tiny_model, edited, tmp_path)
    changed.document_embeddings
    assert changed.cache_hit is False and calls["texts"] == 40
    bf16 = retriever(tiny_model, corpus, tmp_path, precision="bf16")
    bf16.document_embeddings
    assert bf16.cache_hit is False and calls["texts"] == 80
    assert retriever(tiny_model, corpus, tmp_path).document_embeddings is not None
    assert calls["texts"] == 80  # the original fp32 entry is still there


def test_corrupt_cache_file_is_re_encoded(tiny_model, corpus, tmp_path):
    retriever(tiny_model, corpus, tmp_path).document_embeddings
    (cached,) = (tmp_path / "embeddings").glob("*/shard-*.npy")
    cached.write_bytes(b"not an array")
    assert EmbeddingCache(tmp_path).load(cached.parent.name, 40) is None
    again = retriever(tiny_model, corpus, tmp_path)
    assert again.document_embeddings.shape == (40, 32) and again.cache_hit is False
    assert EmbeddingCache(tmp_path).load(cached.parent.name, 40) is not None  # rewritten


def test_model_object_is_not_cached_by_default(tiny_model, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("BIXSE_CACHE", str(tmp_path))
    dense = DenseRetriever(tiny_model, corpus, show_progress=False)
    dense.document_embeddings
    assert dense.cache is None and not (tmp_path / "embeddings").exists()
