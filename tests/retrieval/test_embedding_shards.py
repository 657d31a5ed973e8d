"""Corpus embeddings in shards: the same vectors and runs as one array, each shard verified on
load (a truncated or corrupted shard is encoded again, never read), an interrupted encoding
resumes at the first missing shard, and the chunked length pre-pass sorts as before."""

import itertools

import numpy as np
import pytest

from bixse.retrieval import DenseRetriever, EmbeddingCache, build_faiss_index, exact_search, faiss_search
from bixse.retrieval.encoding import encode_texts, token_lengths
from bixse.retrieval.shards import EmbeddingShards, ShardFile

DOCUMENTS = 40
SHARD_ROWS = 16  # 40 documents: shards of 16, 16 and 8 rows


@pytest.fixture()
def corpus(cranfield):
    return dict(itertools.islice(cranfield.corpus.items(), DOCUMENTS))


def counting(model):
    calls = {"texts": 0, "fail_after": None}
    original = model.encode_document

    def wrapper(batch, **kwargs):
        if calls["fail_after"] is not None and calls["texts"] >= calls["fail_after"]:
            raise KeyboardInterrupt("killed mid-encoding")
        calls["texts"] += len(batch)
        return original(batch, **kwargs)

    model.encode_document = wrapper
    return calls


def sharded(model, corpus, cache_dir, **options):
    return DenseRetriever(model, corpus, cache=True, cache_dir=cache_dir, batch_size=8, show_progress=False,
                          precision="fp32", shard_rows=SHARD_ROWS, **options)


def shard_paths(cache_dir):
    return sorted((cache_dir / "embeddings").glob("*/shard-*.npy"))


def test_shards_hold_the_same_vectors_as_one_encode(tiny_model, corpus, tmp_path):
    texts = [document.full_text for document in corpus.values()]
    whole = encode_texts(tiny_model, texts, batch_size=8, precision="fp32", show_progress=False)
    retriever = sharded(tiny_model, corpus, tmp_path)
    shards = retriever.document_embeddings
    assert [shard.rows for shard in shards] == [16, 16, 8] and all(isinstance(s, ShardFile) for s in shards)
    np.testing.assert_allclose(np.asarray(shards), whole, atol=1e-6)
    queries = whole[:5] + 0.01
    from_files = exact_search(queries, shards, top_k=7, doc_chunk=5)
    from_array = exact_search(queries, whole, top_k=7)
    np.testing.assert_array_equal(from_files[1], from_array[1])
    np.testing.assert_allclose(from_files[0], from_array[0], atol=1e-6)


def test_truncated_shard_is_encoded_again_and_the_others_kept(tiny_model, corpus, tmp_path):
    first = np.asarray(sharded(tiny_model, corpus, tmp_path).document_embeddings)
    middle = shard_paths(tmp_path)[1]
    middle.write_bytes(middle.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        ShardFile.open(middle)
    calls = counting(tiny_model)
    again = sharded(tiny_model, corpus, tmp_path)
    np.testing.assert_allclose(np.asarray(again.document_embeddings), first, atol=1e-6)
    assert calls["texts"] == SHARD_ROWS and again.cache_hit is False
    assert ShardFile.open(middle).rows == SHARD_ROWS


def test_corrupted_bytes_are_caught_by_the_checksum(tiny_model, corpus, tmp_path):
    first = np.asarray(sharded(tiny_model, corpus, tmp_path).document_embeddings)
    last = shard_paths(tmp_path)[2]
    data = bytearray(last.read_bytes())
    data[-5] ^= 0xFF  # same size, a valid header: only the CRC can tell
    last.write_bytes(bytes(data))
    key = last.parent.name
    assert sorted(EmbeddingCache(tmp_path).valid_shards(key, DOCUMENTS, SHARD_ROWS)) == [0, 1]
    assert EmbeddingCache(tmp_path).load(key, DOCUMENTS, SHARD_ROWS) is None
    calls = counting(tiny_model)
    again = sharded(tiny_model, corpus, tmp_path)
    np.testing.assert_allclose(np.asarray(again.document_embeddings), first, atol=1e-6)
    assert calls["texts"] == 8


def test_an_interrupted_encoding_resumes_at_the_first_missing_shard(tiny_model, corpus, tmp_path):
    calls = counting(tiny_model)
    calls["fail_after"] = SHARD_ROWS + 8  # dies inside the second shard
    with pytest.raises(KeyboardInterrupt):
        sharded(tiny_model, corpus, tmp_path).document_embeddings
    assert len(shard_paths(tmp_path)) == 1
    calls.update(texts=0, fail_after=None)
    resumed = sharded(tiny_model, corpus, tmp_path)
    resumed.document_embeddings
    assert calls["texts"] == DOCUMENTS - SHARD_ROWS and resumed.cache_hit is False
    assert sharded(tiny_model, corpus, tmp_path).document_embeddings is not None
    assert calls["texts"] == DOCUMENTS - SHARD_ROWS  # a third run encodes nothing


def test_float16_storage_halves_the_files_and_keeps_the_ranking(tiny_model, corpus, tmp_path):
    full = sharded(tiny_model, corpus, tmp_path / "f32")
    half = sharded(tiny_model, corpus, tmp_path / "f16", storage="float16")
    vectors32, vectors16 = np.asarray(full.document_embeddings), np.asarray(half.document_embeddings)
    assert half.document_embeddings[0].dtype == np.float16
    np.testing.assert_allclose(vectors16, vectors32, atol=2e-3)
    size = {name: sum(p.stat().st_size for p in shard_paths(tmp_path / name)) for name in ("f32", "f16")}
    assert size["f16"] < 0.55 * size["f32"]
    query = {"q": next(iter(corpus.values())).text}
    assert list(half.search(query, 3)["q"]) == list(full.search(query, 3)["q"])


def test_faiss_index_built_from_shards_equals_one_built_from_the_array(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    cache = EmbeddingCache(tmp_path)
    shards = cache.store("k", vectors, {"model": "test"}, shard_rows=16)
    assert len(shards) == 4 and isinstance(shards, EmbeddingShards)
    queries = rng.normal(size=(6, 8)).astype(np.float32)
    from_shards = faiss_search(build_faiss_index(shards), queries, 5)
    from_array = faiss_search(build_faiss_index(vectors), queries, 5)
    np.testing.assert_array_equal(from_shards[1], from_array[1])


def test_chunked_length_pre_pass_gives_the_lengths_and_order_of_one_call(tiny_model, cranfield):
    texts = [document.full_text for document in itertools.islice(cranfield.corpus.values(), 300)]
    one_call = token_lengths(tiny_model, texts, chunk=len(texts))
    chunked = token_lengths(tiny_model, texts, chunk=7)
    np.testing.assert_array_equal(chunked, one_call)
    encoded = tiny_model.tokenizer(texts, truncation=True, max_length=tiny_model.max_seq_length)
    np.testing.assert_array_equal(one_call, [len(ids) for ids in encoded["input_ids"]])
    np.testing.assert_array_equal(np.argsort(-chunked, kind="stable"), np.argsort(-one_call, kind="stable"))
