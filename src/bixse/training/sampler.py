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
guarantees hold across devices. Incomplete global batches, wherever the epoch has them, are
then dropped, since every rank must gather tensors of one shape.

accelerate's ``BatchSamplerShard`` does not pass ``set_epoch`` on, and on a multi-process resume
the trainer reaches only that wrapper: ``bixse.training.callbacks.SamplerEpochCallback`` sets
the epoch on this sampler.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
    """Integer identities of each row's query and documents, and what each query is known to match.

    Ids only matter through equality (equal text, equal id); they are interned column-wise with
    Arrow's ``dictionary_encode`` where the columns are Arrow arrays, else with a dict.
    """

    query: Sequence[int]
    first_document: Sequence[int]
    documents: Sequence[tuple[int, ...]]        # every filled slot of the row
    relevant: Mapping[int, frozenset[int]]       # query -> documents labelled > 0 for it, over all rows

    @classmethod
    def from_columns(cls, queries: Sequence[Any], slots: Sequence[Sequence[Any]],
                     labels: Sequence[Sequence[float]] | None = None) -> RowKeys:
        """From the layout's columns: ``slots[k][row]`` is document_k; labels[row][k] its score (-1 empty).

        The columns may be sequences or pyarrow (chunked) arrays; ``labels`` a sequence of
        sequences, a (rows, M) array or a pyarrow list array.
        """
        (query,) = _intern([_whole(queries)])
        rows, width = len(query), len(slots)
        documents = (np.stack(_intern([_whole(s) for s in slots]), axis=1) if width
                     else np.zeros((rows, 0), dtype=np.int64))
        scores = _scores(_whole(labels), rows, width)
        filled = np.ones((rows, width), dtype=bool) if scores is None else scores != -1.0
        positive = filled if scores is None else filled & (scores > 0)
        # Python objects only where compose_batches needs them: a tuple per row, a set per query.
        row_documents = list(zip(*(documents[:, k].tolist() for k in range(width)))) if width else [()] * rows
        for row in np.flatnonzero(~filled.all(axis=1)).tolist():
            row_documents[row] = tuple(documents[row, filled[row]].tolist())
        relevant: dict[int, frozenset[int]] = dict.fromkeys(range(int(query.max()) + 1 if rows else 0),
                                                            frozenset())
        pairs = np.broadcast_to(query[:, None], documents.shape)[positive]
        if pairs.size:
            span = int(documents.max()) + 1
            pairs = np.sort(pairs * span + documents[positive])
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]  # each (query, document) once
            owner = pairs // span
            starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
            bounds = [*starts.tolist(), len(pairs)]
            members = (pairs % span).tolist()
            for q, start, stop in zip(owner[starts].tolist(), bounds, bounds[1:]):
                relevant[q] = frozenset(members[start:stop])
        first = documents[:, 0].tolist() if width else []
        return cls(query.tolist(), first, row_documents, relevant)


def _whole(values: Any) -> Any:
    """A datasets (>= 4) ``Column`` read at once: indexed row by row it costs ~100 us a row."""
    try:
        from datasets.arrow_dataset import Column
    except ImportError:  # datasets < 4: columns are lists
        return values
    return values[:] if isinstance(values, Column) else values


def _intern(columns: Sequence[Sequence[Any]]) -> list[np.ndarray]:
    """Integer ids (int64) of the values of each column, one id space for all of them."""
    if not columns:
        return []
    if all(isinstance(c, (pa.Array, pa.ChunkedArray)) for c in columns):
        chunks = [chunk for c in columns for chunk in (c.chunks if isinstance(c, pa.ChunkedArray) else [c])]
        types = {chunk.type for chunk in chunks}
        if len(types) > 1 and types <= {pa.string(), pa.large_string()}:
            chunks = [chunk.cast(pa.large_string()) for chunk in chunks]
            types = {pa.large_string()}
        if len(types) == 1 and all(chunk.null_count == 0 for chunk in chunks):
            # One hash table over all chunks: every chunk's indices refer to the same dictionary.
            encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=types.pop()))
            ids = np.concatenate([np.asarray(chunk.indices, dtype=np.int64) for chunk in encoded.chunks]
                                 or [np.zeros(0, dtype=np.int64)])
            del encoded
            pa.default_memory_pool().release_unused()  # the hash table's buffers
            return np.split(ids, np.cumsum([len(c) for c in columns])[:-1])
    columns = [c.to_pylist() if isinstance(c, (pa.Array, pa.ChunkedArray)) else c for c in columns]
    ids: dict[Any, int] = {}
    intern = ids.setdefault
    return [np.fromiter((intern(value, len(ids)) for value in column), dtype=np.int64, count=len(column))
            for column in columns]


def _scores(labels: Any, rows: int, width: int) -> np.ndarray | None:
    """``labels`` as a (rows, width) float array (None: every slot filled, score 1)."""
    if labels is None:
        return None
    if isinstance(labels, (pa.Array, pa.ChunkedArray)):
        flat = pc.list_flatten(labels)
        if len(flat) == rows * width and (rows == 0 or pc.min_max(pc.list_value_length(labels)).as_py()
                                           == {"min": width, "max": width}):
            return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(rows, width)
        labels = labels.to_pylist()
    try:
        array = np.asarray(labels, dtype=np.float64)
        if array.ndim == 2 and array.shape[0] == rows and array.shape[1] >= width:
            return array[:, :width]
    except ValueError:  # ragged
        pass
    return np.array([[row[k] for k in range(width)] for row in labels], dtype=np.float64).reshape(rows, width)


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
    accepts, add, heappop = batch.accepts, batch.add, heapq.heappop
    while heap and len(batch.rows) < size:
        entry = heappop(heap)
        rows = pending[entry[2]]
        for choice, row in enumerate(rows):  # the first row of the query that fits
            if accepts(row, strict):
                add(rows.pop(choice))
                taken.append(entry)
                break
        else:
            blocked.append(entry)
    return taken, blocked


class _Batch:
    """A batch being filled, with the sets that the acceptance test needs."""

    def __init__(self, keys: RowKeys) -> None:
        self.keys = keys
        self.rows: list[int] = []
        self.first_documents: set[int] = set()
        self.documents: set[int] = set()        # every filled slot of the batch
        self.relevant: set[int] = set()         # documents relevant to some query of the batch
        self._first, self._query, self._documents = keys.first_document, keys.query, keys.documents
        self._relevant_of = keys.relevant.get

    def accepts(self, row: int, strict: bool = True) -> bool:
        if self._first[row] in self.first_documents:
            return False
        return not strict or (self.relevant.isdisjoint(self._documents[row])
                and self._relevant_of(self._query[row], _NOTHING).isdisjoint(self.documents))

    def add(self, row: int) -> None:
        self.rows.append(row)
        self.first_documents.add(self._first[row])
        self.documents.update(self._documents[row])
        self.relevant.update(self._relevant_of(self._query[row], _NOTHING))


_NOTHING: frozenset[int] = frozenset()


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
        # Whole columns at once, as Arrow where the dataset has it (a datasets >= 4 Column read
        # row by row costs ~100 us a row).
        columns = dataset.with_format("arrow") if hasattr(dataset, "with_format") else dataset
        labels = columns["label"] if "label" in dataset.column_names else None
        self.keys = RowKeys.from_columns(columns["query"], [columns[c] for c in slots], labels)
        self._cache: tuple[int, list[list[int]]] | None = None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This epoch's per-rank batches (global batches cut into ``world`` consecutive chunks)."""
        if self._cache is None or self._cache[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            size = self.batch_size * self.world
            global_batches = compose_batches(self.keys, size, generator, drop_last=self.drop_last)
            if self.world > 1:
                # Not only the last: the relevance rule closes batches from half full mid-epoch. A
                # short one would give the ranks chunks of unequal sizes (the gather needs one
                # shape) and shift the chunks of later batches onto other ranks.
                global_batches = [batch for batch in global_batches if len(batch) == size]
            chunks = [batch[r * self.batch_size:(r + 1) * self.batch_size]
                      for batch in global_batches for r in range(self.world)]
            self._cache = (epoch, chunks)
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches(self.epoch)

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch))

