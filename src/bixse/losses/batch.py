"""What every loss needs from a batch: the candidate documents, their targets and which pairs count.

One place for the three things each loss would otherwise copy: gathering embeddings across
torch.distributed ranks (with gradients for the local shard), the similarity matrix, and the
mask of in-batch documents that must not count as negatives (empty slots, and copies of a
query's own documents that another row happens to carry).

Layout (see ``bixse.training.dataset``): row i of a batch holds a query, M document slots and
``labels[i, k]`` = the graded score of slot k, or ``EMPTY_SLOT`` (-1) when the slot is unused.
Slot 0 is the labelled pair for pointwise and contrastive losses; multi-positive and listwise
losses read all slots as the query's candidate list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

EMPTY_SLOT = -1.0
Similarity = Literal["cosine", "dot"]


def label_dtype(embedding_dtype: torch.dtype) -> torch.dtype:
    """Labels stay at least float32 when the embeddings are bf16/fp16: bf16 rounds 0.7 to 0.699,
    which would fail a ``label >= 0.7`` positive threshold that the batch's rows were built with."""
    return torch.promote_types(embedding_dtype, torch.float32)


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every rank; gradients flow back to each rank's own shard."""
    if not is_distributed():
        return tensor
    import torch.distributed.nn  # not imported by `import torch`; holds the autograd all_gather

    return torch.cat(torch.distributed.nn.all_gather(tensor), dim=0)


def gather_without_grad(tensor: Tensor) -> Tensor:
    if not is_distributed():
        return tensor
    shards = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(shards, tensor.contiguous())
    return torch.cat(shards, dim=0)


def with_rank_averaged_gradient(parameter: Tensor) -> Tensor:
    """``parameter`` unchanged, but its gradient is averaged over ranks during backward.

    For a loss's own parameters (BiXSE's bias): the trainer wraps only the model in
    DistributedDataParallel, so nothing else would synchronise them and each rank's copy would drift.
    Every rank must use the returned tensor once per forward (one all-reduce per backward).
    """
    if not is_distributed():
        return parameter
    return _AverageGradientOverRanks.apply(parameter)


class _AverageGradientOverRanks(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, tensor: Tensor) -> Tensor:
        return tensor.clone()

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        return grad / torch.distributed.get_world_size()


def similarity_matrix(queries: Tensor, documents: Tensor, similarity: Similarity) -> Tensor:
    """(Q, d) x (N, d) -> (Q, N) cosine similarities or dot products."""
    if similarity == "cosine":
        queries, documents = F.normalize(queries, dim=-1), F.normalize(documents, dim=-1)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    return queries @ documents.T


def document_keys(document_features: Sequence[dict[str, Tensor]]) -> Tensor:
    """(B, M) int64 identity of each document slot: equal keys <=> identical token sequences.

    Computed from token ids, so two rows carrying the same passage are recognised whatever the
    data pipeline did, on every rank alike (integer tuple hashes do not depend on PYTHONHASHSEED).
    """
    columns = []
    for features in document_features:
        ids, mask = features["input_ids"], features.get("attention_mask")
        rows = ids.tolist() if mask is None else [
            [token for token, keep in zip(row, keep_row) if keep] for row, keep_row in zip(ids.tolist(), mask.tolist())
        ]
        columns.append([hash(tuple(row)) for row in rows])
    return torch.tensor(columns, dtype=torch.int64, device=document_features[0]["input_ids"].device).T


@dataclass(frozen=True)
class InBatchCandidates:
    """Every query of the (global) batch against every document slot of the (global) batch.

    Rows are queries of all ranks (``Q = world * B``), columns the flattened document slots
    ``N = world * B * M`` in (row, slot) order. ``local_rows`` selects this rank's queries.
    """

    queries: Tensor        # (Q, d); the local shard keeps its gradient
    documents: Tensor      # (N, d)
    targets: Tensor        # (Q, N) graded target: the row's own label on its own slots, 0 elsewhere
    own: Tensor            # (Q, N) bool: slot belongs to this query's row
    valid: Tensor          # (Q, N) bool: a real document that may be scored for this query
    slots_per_row: int
    local_rows: slice

    def scores(self, similarity: Similarity) -> Tensor:
        """(Q, N) similarities of every query with every document slot."""
        return similarity_matrix(self.queries, self.documents, similarity)

    def first_slot(self) -> Tensor:
        """(Q,) column of each row's document_0 (the labelled pair)."""
        return torch.arange(self.queries.size(0), device=self.queries.device) * self.slots_per_row

    @property
    def world_size(self) -> int:
        """How many ranks' rows ``queries`` holds (1 without gathering)."""
        return self.queries.size(0) // (self.local_rows.stop - self.local_rows.start)

    @property
    def negatives(self) -> Tensor:
        """(Q, N) bool: valid documents that are not the row's own (in-batch negatives)."""
        return self.valid & ~self.own


def in_batch_candidates(query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                        doc_keys: Tensor | None = None, gather_across_devices: bool = True) -> InBatchCandidates:
    """Build the global candidate view of a batch.

    Args:
        query_emb: (B, d) query embeddings of this rank.
        doc_emb: (B, M, d) document-slot embeddings of this rank (or (B, d) for M = 1).
        labels: (B, M) graded scores, ``EMPTY_SLOT`` for unused slots (or (B,) for M = 1).
        doc_keys: (B, M) document identities (see ``document_keys``); None treats every slot as
            distinct, which is right for the model-free functional use on random embeddings.
        gather_across_devices: with torch.distributed initialised, use every rank's documents
            as negatives (the paper's large-batch setting); off, each rank sees only its own.
    """
    if doc_emb.dim() == 2:
        doc_emb, labels = doc_emb.unsqueeze(1), labels.reshape(-1, 1)
    if doc_keys is None:
        doc_keys = torch.arange(labels.numel(), device=labels.device).reshape(labels.shape)
        if gather_across_devices and is_distributed():  # distinct across ranks too
            doc_keys = doc_keys + torch.distributed.get_rank() * labels.numel()
    doc_keys = doc_keys.reshape(labels.shape)  # a (B,) key vector for M = 1 must not broadcast against (B, 1)
    batch_size, slots, dim = doc_emb.shape
    labels = labels.to(label_dtype(doc_emb.dtype))
    gather = gather_across_devices and is_distributed()
    if gather:
        query_emb, doc_emb = gather_with_grad(query_emb), gather_with_grad(doc_emb)
        labels, doc_keys = gather_without_grad(labels.detach()), gather_without_grad(doc_keys)
    offset = torch.distributed.get_rank() * batch_size if gather else 0
    rows = query_emb.size(0)
    row_of_column = torch.arange(rows * slots, device=labels.device) // slots
    own = row_of_column.unsqueeze(0) == torch.arange(rows, device=labels.device).unsqueeze(1)
    filled = (labels != EMPTY_SLOT).reshape(-1)
    keys = doc_keys.reshape(-1)
    # A slot is a false negative for row i when it holds the same document as one of row i's own filled slots.
    own_keys = torch.where(labels != EMPTY_SLOT, doc_keys, torch.full_like(doc_keys, torch.iinfo(torch.int64).min))
    # Only a document that occurs more than once in the batch can copy another row's: compare those
    # columns alone instead of building the (Q, M, N) comparison of every key with every own key.
    _, occurrence, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    repeated = (counts[occurrence] > 1).nonzero().squeeze(1)
    copies_own = torch.zeros_like(own)
    copies_own[:, repeated] = (keys[repeated].view(1, 1, -1) == own_keys.unsqueeze(-1)).any(dim=1)
    valid = filled.unsqueeze(0) & (own | ~copies_own)
    targets = torch.zeros(rows, rows * slots, dtype=labels.dtype, device=doc_emb.device)
    targets[own] = labels.clamp_min(0).reshape(-1)
    return InBatchCandidates(query_emb, doc_emb.reshape(-1, dim), targets, own, valid, slots,
                             slice(offset, offset + batch_size))
