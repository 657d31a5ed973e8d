"""JointLH: the joint likelihood of all of a query's positives under one softmax over the batch.

Paper: Wang et al., "Training Dense Retrievers with Multiple Positive Passages", arXiv 2602.12727.

Formula (per query q with positives P and candidate set C = every valid passage of the
cross-device batch, positives included; s = scale * sim(q, d), Z = sum over c in C of exp(s_c))::

    loss(q) = sum over p in P of  w_p * -log( exp(s_p) / Z )          # w_p = 1 by default
            = sum over p in P of  w_p * (logsumexp_C(s) - s_p)
    loss(q) /= sum over p in P of w_p                                  # if normalize_by_positives

The batch loss is the mean over queries with at least one positive. The authors' code computes
``m * logsumexp(all scores) - sum of positive scores`` and divides by m = |P| only when
``--normalize_loss_by_positive`` is given (off by default), so ``normalize_by_positives`` defaults
to False: each positive is one softmax term, and a query with more positives weighs more.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bixse.losses.batch import Similarity
from bixse.losses.multi_positive import MultiPositiveLoss, PositiveSets, masked_logsumexp
from bixse.losses.registry import register


@register("jointlh")
class JointLHLoss(MultiPositiveLoss):
    """Joint likelihood of a query's positives (JointLH, arXiv 2602.12727).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    the query's candidate list with graded labels in [0, 1]; ``label >= positive_threshold`` marks a
    positive, -1.0 an empty slot. Every other valid passage of the batch (all ranks) is a negative
    candidate, except in-batch copies of the query's own documents.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        positive_threshold: label at or above which a slot is a positive (default 0.5).
        similarity: ``"dot"`` (default, the authors' code) or ``"cosine"``.
        scale: multiplies the similarity (default 1, the authors' code).
        grade_weighting: w_p = the positive's graded label instead of 1 (default False).
        normalize_by_positives: divide a query's loss by sum of w_p, i.e. |P| (default False, as
            the authors' code).
        gather_across_devices: under torch.distributed, candidates span every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("jointlh")                                 # functional use, no model
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # scores 2, 1, 0
        >>> labels = torch.tensor([[1.0, 0.75, 0.0]])                     # two positives
        >>> round(loss.compute_loss_from_embeddings(query, docs, labels).item(), 4)
        1.8152
        >>> # training: SentenceTransformerTrainer(model=model, loss=get_loss("jointlh", model), ...)
    """

    def __init__(self, model: torch.nn.Module | None = None, positive_threshold: float = 0.5,
                 similarity: Similarity = "dot", scale: float = 1.0, grade_weighting: bool = False,
                 normalize_by_positives: bool = False, gather_across_devices: bool = True) -> None:
        super().__init__(model, positive_threshold, similarity, scale, grade_weighting,
                         gather_across_devices)
        self.normalize_by_positives = normalize_by_positives

    def row_losses(self, scores: Tensor, sets: PositiveSets, rows: slice) -> Tensor:
        sets = sets.select(rows)
        log_partition = masked_logsumexp(scores, sets.candidates)
        # Per-positive differences (not m * lse - sum s_p) keep precision at large logits.
        nll = torch.where(sets.positives, log_partition.unsqueeze(-1) - scores,
                          torch.zeros_like(scores))
        loss = (sets.weights * nll).sum(dim=-1)
        if self.normalize_by_positives:
            loss = loss / sets.weights.sum(dim=-1).clamp_min(torch.finfo(loss.dtype).tiny)
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "normalize_by_positives": self.normalize_by_positives}
