"""What the scored-list objectives share: a query scored against its own candidate slots.

RankNet, Margin-MSE and listwise KL distillation read a row's filled slots as one ranked list
with graded labels or teacher scores; no in-batch documents take part, so the only cross-device
step is the mean, taken over the items (pairs, margins, lists) of the global batch so that two
ranks of B/2 rows give, after DDP averages their gradients, the single-process loss on B rows.
"""

from __future__ import annotations

from typing import Any, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import EMPTY_SLOT, Similarity, is_distributed


def own_slot_scores(query_emb: Tensor, doc_emb: Tensor, similarity: Similarity) -> Tensor:
    """(B, d) x (B, M, d) -> (B, M) similarity of each query with its own document slots."""
    if similarity == "cosine":
        query_emb, doc_emb = F.normalize(query_emb, dim=-1), F.normalize(doc_emb, dim=-1)
    return torch.einsum("bd,bmd->bm", query_emb, doc_emb)


def at_least_float32(values: Tensor) -> Tensor:
    """Half-precision scores (autocast) are upcast: the softmax sums lose too much in 16 bits."""
    return values.to(torch.promote_types(values.dtype, torch.float32))


def masked_log_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """Row-wise log-softmax over ``mask``; 0 outside it and on rows with an empty mask (no NaN)."""
    has_any = mask.any(dim=-1, keepdim=True)
    logits = torch.where(has_any, logits.masked_fill(~mask, float("-inf")), torch.zeros_like(logits))
    return torch.where(mask, F.log_softmax(logits, dim=-1), torch.zeros_like(logits))


class ScoredListLoss(BixseLoss):
    """Base of the scored-list objectives; a subclass supplies ``sum_and_count``.

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        similarity: ``"dot"`` or ``"cosine"`` student similarity.
        scale: multiplies the student similarity.
        gather_across_devices: under torch.distributed, average over the items of every rank.
    """

    layout = "scored_list"

    def __init__(self, model: torch.nn.Module | None = None, similarity: Similarity = "dot",
                 scale: float = 1.0, gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        if similarity not in get_args(Similarity):
            raise InputError(f"must be one of {get_args(Similarity)}, got {similarity!r}",
                             field="similarity")
        if not scale > 0:
            raise InputError(f"must be positive, got {scale}", field="scale")
        self.similarity: Similarity = similarity
        self.scale = scale

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        """Mean item loss from (B, d) queries, (B, M, d) slots and (B, M) labels (-1 = empty slot).

        ``doc_keys`` is accepted for the common signature; only a row's own slots are scored,
        so in-batch duplicates cannot act as negatives.
        """
        if doc_emb.dim() == 2:
            doc_emb, labels = doc_emb.unsqueeze(1), labels.reshape(-1, 1)
        scores = at_least_float32(own_slot_scores(query_emb, doc_emb, self.similarity)) * self.scale
        labels = labels.to(scores.device, scores.dtype)
        total, count = self.sum_and_count(scores, labels.detach(), labels != EMPTY_SLOT)
        return self.mean_across_ranks(total, count)

    def sum_and_count(self, scores: Tensor, labels: Tensor, filled: Tensor) -> tuple[Tensor, Tensor]:
        """The summed loss of this rank's items and how many items there are."""
        raise NotImplementedError

    def mean_across_ranks(self, total: Tensor, count: Tensor) -> Tensor:
        count = count.detach().to(total.dtype)
        if self.gather_across_devices and is_distributed():
            count = count.clone()
            torch.distributed.all_reduce(count)
            return total * torch.distributed.get_world_size() / count.clamp_min(1)
        return total / count.clamp_min(1)

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "scale": self.scale}
