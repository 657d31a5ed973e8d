"""The vectorised row keys and the Arrow-written rows give what the per-row Python code gave.

References: copies of ``RowKeys.from_columns`` and of the row builders as they were before the
rows were kept as text indices and the keys interned column-wise (``_reference_*`` below).
"""

from __future__ import annotations

import random

import pytest
import torch
from datasets import Dataset

from bixse.collections.training_data import GradedPair, MultiPositiveGroup, ScoredDocument
from bixse.losses.batch import EMPTY_SLOT
from bixse.training import dataset as dataset_module
from bixse.training.dataset import build_rows, candidates_by_query, layout_rows
from bixse.training.sampler import QueryBatchSampler, RowKeys, compose_batches

# --- reference: the per-row RowKeys.from_columns ----------------------------------------------


def _reference_interner():
    ids = {}
    return lambda value: ids.setdefault(value, len(ids))


def _reference_keys(queries, slots, labels=None) -> RowKeys:
    query_ids, document_ids = _reference_interner(), _reference_interner()
    query = [query_ids(q) for q in queries]
    rows = len(query)
    labels = labels if labels is not None else [[1.0] * len(slots)] * rows
    documents, relevant = [], {}
    for row in range(rows):
        filled = [(document_ids(slots[k][row]), labels[row][k]) for k in range(len(slots))
                  if labels[row][k] != -1.0]
        documents.append(frozenset(doc for doc, _ in filled))
        relevant.setdefault(query[row], set()).update(doc for doc, score in filled if score > 0)
    first = [document_ids(document) for document in slots[0]]
    return RowKeys(query, first, documents, {q: frozenset(docs) for q, docs in relevant.items()})


def _random_columns(seed: int, rows: int, width: int, queries: int = 15, documents: int = 30):
    """Repeated queries, documents shared across queries and rows, graded labels, empty slots."""
    rng = random.Random(seed)
    query_column = [f"query {rng.randrange(queries)}" for _ in range(rows)]
    slots = [[] for _ in range(width)]
    labels = []
    for _ in range(rows):
        row = []
        for k in range(width):
            empty = k > 0 and rng.random() < 0.25
            slots[k].append("" if empty else f"document {rng.randrange(documents)}")
            row.append(EMPTY_SLOT if empty else rng.choice((0.0, 0.0, 0.25, 0.5, 0.75, 1.0)))
        labels.append(row)
    return query_column, slots, labels


def _renaming(ids, reference_ids) -> bool:
    """Whether ``ids`` are ``reference_ids`` under a one-to-one renaming."""
    pairs = set(zip(ids, reference_ids))
    return len(ids) == len(reference_ids) and len(pairs) == len(set(ids)) == len(set(reference_ids))


def _columns_dict(queries, slots, labels):
    return {"query": queries, **{f"document_{k}": column for k, column in enumerate(slots)}, "label": labels}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("width", [1, 3])
def test_vectorised_keys_compose_the_batches_of_the_reference(seed, width):
    queries, slots, labels = _random_columns(seed, rows=40 + 37 * seed, width=width)
    for with_labels in (labels, None):
        reference = _reference_keys(queries, slots, with_labels)
        keys = RowKeys.from_columns(queries, slots, with_labels)
        # ids may differ; only which rows share an id matters
        assert _renaming(keys.query, reference.query) and _renaming(keys.first_document, reference.first_document)
        assert [len(set(d)) for d in keys.documents] == [len(d) for d in reference.documents]
        assert sorted(len(keys.relevant.get(q, ())) for q in set(keys.query)) == sorted(
            len(d) for d in reference.relevant.values())
        for batch_size in (1, 3, 8, 32):
            for epoch_seed in (0, 1, 17):
                expected = compose_batches(reference, batch_size, torch.Generator().manual_seed(epoch_seed))
                got = compose_batches(keys, batch_size, torch.Generator().manual_seed(epoch_seed))
                assert got == expected, (batch_size, epoch_seed)


def test_arrow_and_list_columns_give_the_same_keys():
    import pyarrow as pa

    queries, slots, labels = _random_columns(3, rows=120, width=2)
    from_lists = RowKeys.from_columns(queries, slots, labels)
    chunked = [pa.chunked_array([pa.array(slots[0][:50]), pa.array(slots[0][50:])]),
               pa.array(slots[1], type=pa.large_string())]
    from_arrow = RowKeys.from_columns(pa.chunked_array([pa.array(queries[:7]), pa.array(queries[7:])]), chunked,
                                      pa.array(labels))
    assert from_arrow == from_lists


def _reference_sampler_batches(dataset: Dataset, batch_size: int, seed: int, world: int, epoch: int):
    sampler = QueryBatchSampler(dataset, batch_size=batch_size, drop_last=False, seed=seed, world=world)
    columns = dataset.to_dict()
    slots = sorted((c for c in columns if c.startswith("document_")), key=lambda c: int(c[9:]))
    sampler.keys = _reference_keys(columns["query"], [columns[c] for c in slots], columns["label"])
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_sampler_batches_equal_the_reference(world, seed, monkeypatch):
    queries, slots, labels = _random_columns(seed, rows=150, width=2, queries=20, documents=60)
    columns = _columns_dict(queries, slots, labels)
    monkeypatch.setattr(dataset_module, "CHUNK_ROWS", 16)  # many record batches, one dictionary
    written = layout_rows([{name: values[i] for name, values in columns.items()} for i in range(len(queries))],
                          "pointwise", "bixse").to_dataset()
    assert len(written.data.to_batches()) > 1
    datasets = {"from_dict": Dataset.from_dict(columns), "written": written,
                "shuffled": written.shuffle(seed=seed)}  # an indices mapping over the Arrow table
    for name, dataset in datasets.items():
        for batch_size in (2, 5, 16):
            for epoch in (0, 1):
                sampler = QueryBatchSampler(dataset, batch_size=batch_size, drop_last=False, seed=seed, world=world)
                sampler.set_epoch(epoch)
                assert list(sampler) == _reference_sampler_batches(dataset, batch_size, seed, world, epoch), (
                    name, batch_size, epoch)


# --- reference: the rows as lists, built per row ---------------------------------------------


def _reference_columns(rows, slots):
    columns = {"query": [row[0] for row in rows]}
    for slot in range(slots):
        columns[f"document_{slot}"] = [docs[slot].document if slot < len(docs) else "" for _, docs in rows]
    columns["label"] = [[docs[s].score if s < len(docs) else EMPTY_SLOT for s in range(slots)] for _, docs in rows]
    return columns


def _reference_rows(examples, layout, hard_negatives, positive_threshold, max_candidates):
    queries = candidates_by_query(examples)
    lowest = lambda cands, limit: sorted(cands, key=lambda c: c.score)[:limit]  # noqa: E731
    if layout == "pointwise":
        rows = [(q.query, [c, *lowest((o for o in q.candidates if o is not c), hard_negatives)])
                for q in queries for c in q.candidates]
        return _reference_columns(rows, 1 + hard_negatives)
    if layout == "contrastive":
        rows = [(q.query, [p, *lowest(q.below(positive_threshold), hard_negatives)])
                for q in queries for p in q.positives(positive_threshold)]
        return _reference_columns(rows, 1 + hard_negatives)
    if layout == "multi_positive":
        kept = [q for q in queries if q.positives(positive_threshold)]
    else:
        kept = [q for q in queries if len(q.candidates) > 1]
    rows = [(q.query, sorted(q.candidates, key=lambda c: -c.score)[:max_candidates]) for q in kept]
    return _reference_columns(rows, max((len(docs) for _, docs in rows), default=1))


def _random_examples(seed: int):
    """Graded pairs and groups: repeated queries, documents shared across queries, repeated labels."""
    rng = random.Random(seed)
    examples = []
    for _ in range(120):
        q = rng.randrange(25)
        d = rng.randrange(40)
        score = rng.choice((0.0, 0.25, 0.5, 0.75, 1.0))
        if rng.random() < 0.15:
            documents = [ScoredDocument(f"text {d + i}", rng.choice((0.0, 0.5, 1.0)), f"d{d + i}") for i in range(3)]
            examples.append(MultiPositiveGroup(f"query text {q}", tuple(documents[:1]), tuple(documents[1:]), f"q{q}"))
        else:
            # some documents without ids (told apart by text), some with an id but a text shared with another
            doc_id = None if rng.random() < 0.2 else f"d{d}"
            text = f"text {d}" if rng.random() < 0.9 else f"text {d + 1}"
            examples.append(GradedPair(f"query text {q}", text, score, f"q{q}", doc_id))
    return examples


@pytest.mark.parametrize("layout", ["pointwise", "contrastive", "multi_positive", "scored_list"])
@pytest.mark.parametrize("seed", range(3))
def test_to_dataset_rows_equal_the_reference_columns(layout, seed, monkeypatch):
    monkeypatch.setattr(dataset_module, "CHUNK_ROWS", 7)
    examples = _random_examples(seed)
    options = {"hard_negatives": 2 if layout in ("pointwise", "contrastive") else 0, "positive_threshold": 0.5,
               "max_candidates": 5}
    built = build_rows(examples, layout, loss="x", **options)
    expected = _reference_rows(examples, layout, **options)
    assert built.num_rows == len(expected["query"]) and built.slots == len(expected["label"][0])
    assert built.columns == expected
    reference = Dataset.from_dict(expected)
    for keep_in_memory in (False, True):
        dataset = built.to_dataset(keep_in_memory=keep_in_memory)
        assert dataset.features == reference.features
        assert dataset.to_dict() == expected
        assert [dataset[i] for i in range(0, len(dataset), 11)] == [reference[i] for i in range(0, len(dataset), 11)]
    assert bool(built.to_dataset().cache_files)  # memory-mapped from a file, not held in memory
