"""Batches as the BiXSE paper composes them: one labelled pair per query, few false in-batch negatives.

In-batch negatives are only sound when no other row of the batch carries a document relevant
to the row's query: a second pair of the same query, the same labelled document, or a document
the training data labels relevant (label > 0) to this query in some other row, which topically
close queries share. So a batch holds:

- distinct queries and distinct ``document_0``s (always);
- no document (any filled slot) labelled relevant to another query of the batch, as long as
  the batch still fills to ``MIN_FILL`` (half) of its size; below that, rows that break this
  rule fill it up to half, since a tiny batch has too few negatives to learn from. The losses
  mask copies of a row's own documents; documents the row never carried they cannot mask,
  hence this rule here.

On Cranfield's train split (graded pairs, batch 32) the rule cuts the in-batch documents that
are labelled relevant to the row's query from 422 to 118 per epoch (pointwise rows; 280 to 111
for the contrastive rows), at the price of 36 batches instead of 32 (25 instead of 22).

Packing: each batch takes its rows from the queries with the most rows left (ties in an order
drawn once per epoch), one row per query. Longest-first is what lets an epoch end in about
max(ceil(rows / batch), most rows of one query) batches with every row used exactly once;
drawing rows uniformly would leave a tail of tiny batches made of the few largest queries.

The order is a pure function of (seed, epoch): a run resumed from a checkpoint replays the
same batches. Under torch.distributed the sampler composes *global* batches of
``batch_size * world_size`` rows and hands them out as ``world_size`` consecutive chunks, which
accelerate deals one per rank; the losses gather the chunks back into the global batch, so the
guarantees hold across devices. Incomplete global batches are then dropped, since every rank
must gather tensors of one shape.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

# Below this fraction of its size a batch takes rows that break the relevance rule (up to it).
MIN_FILL = 0.5


def world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


@dataclass(frozen=True)
class RowKeys:
    """Integer identities of each row's query and documents, and what each query is known to match."""

    query: Sequence[int]
    first_document: Sequence[int]
    documents: Sequence[frozenset[int]]          # every filled slot of the row
    relevant: Mapping[int, frozenset[int]]       # query -> documents labelled > 0 for it, over all rows

    @classmethod
    def from_columns(cls, queries: Sequence[Any], slots: Sequence[Sequence[Any]],
                     labels: Sequence[Sequence[float]] | None = None) -> RowKeys:
        """From the layout's columns: ``slots[k][row]`` is document_k; labels[row][k] its score (-1 empty)."""
        query_ids, document_ids = _interner(), _interner()
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
        return cls(query, first, documents, {q: frozenset(docs) for q, docs in relevant.items()})


def compose_batches(keys: RowKeys, batch_size: int, generator: torch.Generator,
                    drop_last: bool = False) -> list[list[int]]:
    """Row indices grouped into batches that obey the module docstring's rules.

    Every row appears exactly once (unless ``drop_last`` drops a final incomplete batch): a row
    always fits an empty batch, so a row held back now goes into a later batch.
    """
    rows_of: dict[int, list[int]] = {}
    for index, query in enumerate(keys.query):
        rows_of.setdefault(query, []).append(index)
    queries = list(rows_of)
    # Shuffle each query's rows and the query tie-break order with the one generator.
    pending = {q: [rows_of[q][i] for i in torch.randperm(len(rows_of[q]), generator=generator).tolist()]
               for q in queries}
    order = torch.randperm(len(queries), generator=generator).tolist()
    tie_break = {queries[i]: rank for rank, i in enumerate(order)}
    heap = [(-len(pending[q]), tie_break[q], q) for q in queries]
    heapq.heapify(heap)
    batches: list[list[int]] = []
    while heap:
        batch = _Batch(keys)
        taken, blocked = _fill(batch, heap, pending, batch_size, strict=True)
        if len(batch.rows) < batch_size * MIN_FILL and blocked:
            # Deferring would leave the batch too small: the relevance rule yields to batch size.
            for entry in blocked:
                heapq.heappush(heap, entry)
            more, blocked = _fill(batch, heap, pending, math.ceil(batch_size * MIN_FILL), strict=False)
            taken += more
        # Queries go back after the batch is closed, so none can be drawn twice for it.
        for count, rank, query in taken:
            if pending[query]:
                heapq.heappush(heap, (count + 1, rank, query))
        for entry in blocked:
            heapq.heappush(heap, entry)
        batches.append(batch.rows)
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def _fill(batch: _Batch, heap: list, pending: dict[int, list[int]], size: int,
          strict: bool) -> tuple[list, list]:
    """Pop queries (most rows left first) into ``batch`` up to ``size`` rows; return (taken, blocked)."""
    taken, blocked = [], []
    while heap and len(batch.rows) < size:
        entry = heapq.heappop(heap)
        rows = pending[entry[2]]
        choice = next((i for i, row in enumerate(rows) if batch.accepts(row, strict)), None)
        if choice is None:
            blocked.append(entry)
            continue
        batch.add(rows.pop(choice))
        taken.append(entry)
    return taken, blocked


class _Batch:
    """A batch being filled, with the sets that the acceptance test needs."""

    def __init__(self, keys: RowKeys) -> None:
        self.keys = keys
        self.rows: list[int] = []
        self.first_documents: set[int] = set()
        self.documents: set[int] = set()        # every filled slot of the batch
        self.relevant: set[int] = set()         # documents relevant to some query of the batch

    def accepts(self, row: int, strict: bool = True) -> bool:
        keys = self.keys
        if keys.first_document[row] in self.first_documents:
            return False
        return not strict or (self.relevant.isdisjoint(keys.documents[row])
                and keys.relevant.get(keys.query[row], frozenset()).isdisjoint(self.documents))

    def add(self, row: int) -> None:
        keys = self.keys
        self.rows.append(row)
        self.first_documents.add(keys.first_document[row])
        self.documents |= keys.documents[row]
        self.relevant |= keys.relevant.get(keys.query[row], frozenset())


class QueryBatchSampler(DefaultBatchSampler):
    """Batch sampler for ``SentenceTransformerTrainingArguments(batch_sampler=QueryBatchSampler)``.

    Reads the ``query``, ``document_k`` and ``label`` columns of the training layout (see
    ``bixse.training.dataset``). Deterministic given ``seed`` and the epoch the trainer sets
    with ``set_epoch``.
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool,
                 valid_label_columns: list[str] | None = None, generator: torch.Generator | None = None,
                 seed: int = 0, world: int | None = None) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.world = world or world_size()
        slots = sorted((c for c in dataset.column_names if c.startswith("document_")), key=lambda c: int(c[9:]))
        labels = dataset["label"] if "label" in dataset.column_names else None
        self.keys = RowKeys.from_columns(dataset["query"], [dataset[c] for c in slots], labels)
        self._cache: tuple[int, list[list[int]]] | None = None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This epoch's per-rank batches (global batches cut into ``world`` consecutive chunks)."""
        if self._cache is None or self._cache[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            global_batches = compose_batches(self.keys, self.batch_size * self.world, generator,
                                             drop_last=self.drop_last or self.world > 1)
            chunks = [batch[r * self.batch_size:(r + 1) * self.batch_size]
                      for batch in global_batches for r in range(self.world)]
            self._cache = (epoch, [chunk for chunk in chunks if chunk])
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches(self.epoch)

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch))


def _interner() -> Any:
    ids: dict[Any, int] = {}
    return lambda value: ids.setdefault(value, len(ids))
