"""MW loss: a smooth Mann-Whitney U (AUC) over every positive/negative score pair of a batch."""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import InBatchCandidates, Similarity, in_batch_candidates, similarity_matrix
from bixse.losses.registry import register

NegativePool = Literal["batch", "query"]
NegativeReduction = Literal["sum", "mean"]

# Pairwise differences are evaluated this many at a time, so a B = 512 batch (134M pairs)
# needs tens of MB rather than gigabytes.
_PAIRS_PER_CHUNK = 1 << 22


@register("mw_auc")
class MWAUCLoss(BixseLoss):
    """MW (Mann-Whitney / AUC) loss (Sheikholeslami et al. 2025, arXiv 2510.00137).

    "Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval" replaces the
    per-query softmax of InfoNCE with a binary cross-entropy on score differences, so that every
    positive pair of the batch outranks every negative pair of the batch, across queries: a
    smooth Mann-Whitney U statistic, i.e. the AUC of the batch's scores, which makes scores
    comparable between queries (thresholdable).

    Formula, with s_i+ = sim(q_i, document_0 of row i) and S- the pool of negative scores::

        L = -(1/B) sum_i sum_{s- in S-} log sigmoid((s_i+ - s-) / tau)

    Only the paper's abstract and figure captions were reachable: they fix binary cross-entropy on
    score differences for every positive-negative pair, with positive and negative pairs taken
    from the batch's whole query x passage score matrix. The sum over S- and the mean over
    queries follow the formula above.

    ``negative_pool="batch"`` (the paper): S- = { sim(q_j, d) : every row j of the cross-device
    batch, every valid document slot d that is not row j's document_0 }, i.e. hard negatives and
    other queries' positives, scored against their own query j. ``"query"`` restricts S- to row
    i's own negatives { sim(q_i, d) } (a pairwise logistic loss per query, O(B * N) instead of
    O(B * B * N)). ``negative_reduction="mean"`` divides each row's sum by |S-| (the normalised
    U statistic); the default ``"sum"`` is the formula above. Empty slots and other rows' copies
    of row j's own documents are not in S-. B counts rows whose document_0 is not empty.
    The batch pool costs B x |S-| pair terms per rank (about B * B * M: 134M at B = 512, M = 1;
    times the world size when gathering), evaluated in chunks of 4M with the gradient accumulated
    in the same pass, so memory stays one chunk plus O(B * B * M) scores.

    Args:
        model: the SentenceTransformer to train (None for ``compute_loss_from_embeddings`` only).
        temperature: tau (0.01 in the paper).
        similarity: ``"cosine"`` (the paper) or ``"dot"``.
        negative_pool: ``"batch"`` (the paper) or ``"query"``.
        negative_reduction: ``"sum"`` (the paper's formula) or ``"mean"`` over S-.
        gather_across_devices: with torch.distributed, every rank's pairs are in S-.

    Inputs:
        Layout ``contrastive``: ``query, document_0`` (the positive), ``document_1..`` (hard
        negatives) and ``label`` (M floats; only -1.0 = empty slot is read). Embeddings: query
        (B, d), documents (B, M, d), labels (B, M).

    Example:
        >>> import torch
        >>> loss = MWAUCLoss()
        >>> query, docs = torch.randn(4, 8), torch.randn(4, 2, 8)
        >>> loss.compute_loss_from_embeddings(query, docs, torch.zeros(4, 2)).shape
        torch.Size([])
    """

    layout = "contrastive"
    citation = """
@misc{sheikholeslami2025optimizingmatters,
      title={Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval},
      author={Nima Sheikholeslami and Erfan Hosseini and Patrice Bechard and Srivatsava Daruru and Sai Rajeswar},
      year={2025},
      eprint={2510.00137},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2510.00137},
}
"""

    def __init__(self, model: nn.Module | None = None, temperature: float = 0.01,
                 similarity: Similarity = "cosine", negative_pool: NegativePool = "batch",
                 negative_reduction: NegativeReduction = "sum",
                 gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        choices = (("similarity", similarity, get_args(Similarity)),
                   ("negative_pool", negative_pool, get_args(NegativePool)),
                   ("negative_reduction", negative_reduction, get_args(NegativeReduction)))
        for field, value, allowed in choices:
            if value not in allowed:
                raise InputError(f"must be one of {allowed}, got {value!r}", field=field)
        if not temperature > 0:
            raise InputError(f"must be positive, got {temperature}", field="temperature")
        self.temperature = temperature
        self.similarity: Similarity = similarity
        self.negative_pool: NegativePool = negative_pool
        self.negative_reduction: NegativeReduction = negative_reduction

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        batch = in_batch_candidates(query_emb, doc_emb, labels, doc_keys,
                                    self.gather_across_devices)
        positive_column = batch.first_slot()
        all_rows = torch.arange(positive_column.numel(), device=positive_column.device)
        is_positive = torch.zeros_like(batch.valid)
        is_positive[all_rows, positive_column] = True
        has_positive = batch.valid[all_rows, positive_column]
        negative = batch.valid & ~is_positive
        # Each local row weighs 1 / (global row count / world size): the ranks' mean loss then
        # equals the one-process loss of the whole batch.
        counted = has_positive.sum().clamp_min(1) / batch.world_size
        row_weights = has_positive[batch.local_rows].float() / counted
        if self.negative_pool == "batch":
            return self._batch_pool(batch, positive_column, negative, row_weights)
        return self._query_pool(batch, positive_column, negative, row_weights)

    def _batch_pool(self, batch: InBatchCandidates, positive_column: Tensor, negative: Tensor,
                    row_weights: Tensor) -> Tensor:
        # S- holds every row's negative scores, so the whole (Q, N) matrix is scored on each rank.
        scores = similarity_matrix(batch.queries, batch.documents, self.similarity).float()
        local = torch.arange(batch.local_rows.start, batch.local_rows.stop, device=scores.device)
        pool = scores[negative]
        if self.negative_reduction == "mean":
            row_weights = row_weights / max(1, pool.numel())
        positives = scores[local, positive_column[local]]
        return pairwise_softplus_sum(positives, pool, row_weights, self.temperature)

    def _query_pool(self, batch: InBatchCandidates, positive_column: Tensor, negative: Tensor,
                    row_weights: Tensor) -> Tensor:
        rows = batch.local_rows
        scores = similarity_matrix(batch.queries[rows], batch.documents, self.similarity).float()
        local = torch.arange(scores.size(0), device=scores.device)
        positives = scores[local, positive_column[rows]]
        pair_losses = F.softplus((scores - positives.unsqueeze(1)) / self.temperature)
        row_negative = negative[rows]
        if self.negative_reduction == "mean":
            row_weights = row_weights / row_negative.sum(1).clamp_min(1)
        pair_losses = torch.where(row_negative, pair_losses, torch.zeros_like(pair_losses))
        return (row_weights * pair_losses.sum(1)).sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "similarity": self.similarity,
            "negative_pool": self.negative_pool,
            "negative_reduction": self.negative_reduction,
            "gather_across_devices": self.gather_across_devices,
        }


def pairwise_softplus_sum(positives: Tensor, negatives: Tensor, row_weights: Tensor,
                          temperature: float) -> Tensor:
    """sum_i row_weights_i * sum_k softplus((negatives_k - positives_i) / temperature), i.e.
    -sum_i w_i sum_k log sigmoid((positives_i - negatives_k) / temperature), in O(P + K) memory.

    positives: (P,), negatives: (K,), row_weights: (P,) (no gradient).
    """
    return _PairwiseSoftplusSum.apply(positives, negatives, row_weights.detach(), temperature)


class _PairwiseSoftplusSum(torch.autograd.Function):
    """The P x K pairwise sum, chunked over positives. Its gradient (d softplus(z) / dz =
    sigmoid(z)) is accumulated in the same pass, so backward never holds the P x K matrix."""

    @staticmethod
    def forward(ctx: Any, positives: Tensor, negatives: Tensor, row_weights: Tensor,
                temperature: float) -> Tensor:
        total = positives.new_zeros(())
        grad_positives = torch.zeros_like(positives)
        grad_negatives = torch.zeros_like(negatives)
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        rows_per_chunk = max(1, _PAIRS_PER_CHUNK // max(1, negatives.numel()))
        scaled_negatives, scaled_positives = negatives / temperature, positives / temperature
        for start in range(0, positives.numel(), rows_per_chunk):
            chunk = slice(start, start + rows_per_chunk)
            weights = row_weights[chunk]
            z = scaled_negatives.unsqueeze(0) - scaled_positives[chunk].unsqueeze(1)
            total += F.softplus(z).sum(1) @ weights
            if needs_grad:
                sigmoid = z.sigmoid_()
                grad_positives[chunk] = -weights * sigmoid.sum(1) / temperature
                grad_negatives += (weights / temperature) @ sigmoid
        ctx.save_for_backward(grad_positives, grad_negatives)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_total: Tensor) -> tuple[Tensor, Tensor, None, None]:
        grad_positives, grad_negatives = ctx.saved_tensors
        return grad_total * grad_positives, grad_total * grad_negatives, None, None
