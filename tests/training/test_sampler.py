"""The batch sampler: distinct queries and documents per batch, every row once, reproducible."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset

from bixse.training.sampler import QueryBatchSampler, RowKeys, compose_batches


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _keys(queries, documents, labels=None, extra_slots=()):
    return RowKeys.from_columns(queries, [documents, *extra_slots], labels)


def _assert_no_repeats(batches, queries, documents):
    for batch in batches:
        assert len({queries[i] for i in batch}) == len(batch), f"repeated query in {batch}"
        assert len({documents[i] for i in batch}) == len(batch), f"repeated document in {batch}"


def test_batches_cover_every_row_once_without_repeats():
    # query sizes 5, 3, 2, 1, 1 (12 rows); documents all distinct
    queries = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d", "e"]
    documents = [f"doc{i}" for i in range(12)]
    batches = compose_batches(_keys(queries, documents), batch_size=3, generator=_generator())
    _assert_no_repeats(batches, queries, documents)
    assert sorted(i for b in batches for i in b) == list(range(12))
    # longest-first packing reaches the lower bound max(ceil(12 / 3), 5 rows of query a)
    assert len(batches) == max(math.ceil(12 / 3), 5) == 5


def test_full_batches_when_queries_allow():
    # 8 queries x 4 rows, batch 8: exactly 4 full batches, each holding every query once
    queries = [f"q{q}" for q in range(8) for _ in range(4)]
    documents = [f"d{i}" for i in range(32)]
    batches = compose_batches(_keys(queries, documents), batch_size=8, generator=_generator(1))
    assert [len(b) for b in batches] == [8, 8, 8, 8]
    _assert_no_repeats(batches, queries, documents)


def test_shared_document_never_twice_in_a_batch():
    # the same document is judged for three queries (Cranfield has 249 such documents in train)
    queries = ["a", "a", "b", "b", "c", "c"]
    documents = ["shared", "a2", "shared", "b2", "shared", "c2"]
    for seed in range(20):
        batches = compose_batches(_keys(queries, documents), batch_size=3, generator=_generator(seed))
        _assert_no_repeats(batches, queries, documents)
        assert sorted(i for b in batches for i in b) == list(range(6))


def test_drop_last_drops_only_the_incomplete_batch():
    queries = [f"q{i}" for i in range(10)]
    documents = [f"d{i}" for i in range(10)]
    kept = compose_batches(_keys(queries, documents), batch_size=4, generator=_generator(), drop_last=True)
    assert [len(b) for b in kept] == [4, 4]


def test_documents_relevant_to_another_query_of_the_batch_are_kept_apart():
    # "shared" is relevant (0.75) to query a and judged non-relevant (0.0) for query b, whose row
    # carries it as a hard negative: a and that row of b must not share a batch, or "shared"
    # would be an in-batch negative for a.
    queries = ["a", "a", "b", "b", "c", "c"]
    first = ["shared", "a2", "b1", "b2", "c1", "c2"]
    hard = ["", "", "shared", "", "", ""]
    labels = [[0.75, -1.0], [1.0, -1.0], [1.0, 0.0], [1.0, -1.0], [1.0, -1.0], [1.0, -1.0]]
    keys = _keys(queries, first, labels, extra_slots=[hard])
    assert keys.relevant[keys.query[0]] == {keys.first_document[0], keys.first_document[1]}
    for seed in range(20):
        batches = compose_batches(keys, batch_size=2, generator=_generator(seed))
        assert sorted(i for b in batches for i in b) == list(range(6))
        for batch in batches:
            assert not ({0, 2} <= set(batch)), batch  # a's "shared" pair with b's row holding it
            assert not ({1, 2} <= set(batch)), batch  # any row of a meets it as a negative


def test_the_relevance_rule_yields_below_half_a_batch():
    # every query's relevant set holds "hub", which every row carries: strict batches would
    # hold one row each; the rule yields to fill batches to half their size
    queries = [f"q{i}" for i in range(8)]
    first = [f"d{i}" for i in range(8)]
    hub = ["hub"] * 8
    labels = [[1.0, 0.5]] * 8
    batches = compose_batches(_keys(queries, first, labels, extra_slots=[hub]), batch_size=4,
                              generator=_generator())
    assert [len(b) for b in batches] == [2, 2, 2, 2]


def _dataset(rows_per_query=(4, 3, 3, 2, 2, 1, 1)) -> Dataset:
    queries, documents = [], []
    for q, count in enumerate(rows_per_query):
        for d in range(count):
            queries.append(f"query {q}")
            documents.append(f"document {q}-{d}")
    return Dataset.from_dict({"query": queries, "document_0": documents, "label": [[1.0]] * len(queries)})


def test_sampler_is_deterministic_per_seed_and_epoch():
    dataset = _dataset()
    first = QueryBatchSampler(dataset, batch_size=3, drop_last=False, seed=7)
    second = QueryBatchSampler(dataset, batch_size=3, drop_last=False, seed=7)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    second.set_epoch(1)
    assert list(first) == list(second)
    assert list(first) != epoch0  # a new order each epoch
    assert len(first) == len(list(first))
    other_seed = QueryBatchSampler(dataset, batch_size=3, drop_last=False, seed=8)
    assert list(other_seed) != epoch0


def test_sampler_reads_query_and_document_columns():
    dataset = _dataset()
    sampler = QueryBatchSampler(dataset, batch_size=4, drop_last=False, seed=0)
    batches = list(sampler)
    _assert_no_repeats(batches, dataset["query"], dataset["document_0"])
    assert sorted(i for b in batches for i in b) == list(range(len(dataset)))


def test_world_size_two_deals_duplicate_free_global_batches():
    dataset = _dataset((3, 3, 3, 3, 2, 2, 2, 1, 1))  # 20 rows, 9 queries
    sampler = QueryBatchSampler(dataset, batch_size=3, drop_last=False, seed=0, world=2)
    chunks = list(sampler)
    assert len(chunks) % 2 == 0 and all(len(c) == 3 for c in chunks)  # equal shapes on every rank
    global_batches = [chunks[i] + chunks[i + 1] for i in range(0, len(chunks), 2)]
    _assert_no_repeats(global_batches, dataset["query"], dataset["document_0"])
    assert len(chunks) == len(sampler)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 64])
def test_any_batch_size_covers_the_rows(batch_size):
    dataset = _dataset()
    batches = list(QueryBatchSampler(dataset, batch_size=batch_size, drop_last=False, seed=3))
    assert sorted(i for b in batches for i in b) == list(range(len(dataset)))
    assert max(len(b) for b in batches) <= batch_size


def test_world_two_drops_short_global_batches_from_mid_epoch_too():
    """The relevance rule closes batches half full mid-epoch: kept, they would deal the ranks chunks
    of unequal size and shift every later chunk onto the other rank."""
    queries = [f"q{i}" for i in range(8)]
    hub = ["hub"] * 8
    dataset = Dataset.from_dict({"query": queries, "document_0": [f"d{i}" for i in range(8)], "document_1": hub,
                                 "label": [[1.0, 0.5]] * 8})
    composed = compose_batches(RowKeys.from_columns(queries, [dataset["document_0"], hub], dataset["label"]),
                               batch_size=4, generator=torch.Generator().manual_seed(0 * 1_000_003))
    assert [len(b) for b in composed] == [2, 2, 2, 2]  # every global batch of 4 is half full
    sampler = QueryBatchSampler(dataset, batch_size=2, drop_last=False, seed=0, world=2)
    assert list(sampler) == [] and len(sampler) == 0
    mixed = _dataset((3, 3, 3, 3, 2, 2, 2, 1, 1))
    sampler = QueryBatchSampler(mixed, batch_size=2, drop_last=False, seed=5, world=2)
    chunks = list(sampler)
    assert all(len(c) == 2 for c in chunks) and len(chunks) % 2 == 0
    whole = compose_batches(sampler.keys, 4, torch.Generator().manual_seed(5 * 1_000_003))
    assert [chunks[i] + chunks[i + 1] for i in range(0, len(chunks), 2)] == [b for b in whole if len(b) == 4]


def test_the_epoch_reaches_the_sampler_through_accelerates_shard_wrapper():
    """DataLoaderShard.set_epoch stops at BatchSamplerShard: a resume in epoch 1 would replay epoch 0."""
    import types

    from accelerate.data_loader import BatchSamplerShard, DataLoaderShard, SkipBatchSampler

    from bixse.training.callbacks import SamplerEpochCallback

    dataset = _dataset()
    sampler = QueryBatchSampler(dataset, batch_size=2, drop_last=False, seed=1, world=2)
    loader = DataLoaderShard(dataset, batch_sampler=BatchSamplerShard(sampler, num_processes=2, process_index=0))
    resumed = DataLoaderShard(dataset, batch_sampler=SkipBatchSampler(loader.batch_sampler, skip_batches=1))
    resumed.set_epoch(1)
    assert sampler.epoch == 0  # what the trainer alone leaves
    SamplerEpochCallback().on_epoch_begin(None, types.SimpleNamespace(epoch=1.37), None, train_dataloader=loader)
    assert sampler.epoch == 1
