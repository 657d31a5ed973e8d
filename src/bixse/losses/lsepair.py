"""LSEPair: a smooth maximum over every (positive, negative) pair of a query.

Paper: Wang et al., "Training Dense Retrievers with Multiple Positive Passages", arXiv 2602.12727,
which finds it the most robust of the multi-positive objectives.

Formula (per query q with positives P and negatives N = every valid passage of the cross-device
batch that is not one of q's positives, other queries' positives included; s = scale * sim(q, d))::

    loss(q) = log(1 + sum over p in P, n in N of w_p * exp(s_n - s_p))   # w_p = 1 by default
            = softplus( logsumexp_N(s) + logsumexp_P(-s + log w) )
    loss(q) /= sum over p in P of w_p                                    # if normalize_by_positives

The batch loss is the mean over queries with at least one positive and one negative; the
authors' code (``lsep``, positive and negative selectors "all") factors the double sum the same
way and divides by |P| only with ``--normalize_loss_by_positive`` (off by default).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bixse.losses.batch import Similarity
from bixse.losses.multi_positive import (
    MultiPositiveLoss,
    PositiveSets,
    masked_logsumexp,
    weighted_positive_logsumexp,
)
from bixse.losses.registry import register


@register("lsepair")
class LSEPairLoss(MultiPositiveLoss):
    """Log-sum-exp pairwise loss over a query's positives and negatives (LSEPair, arXiv 2602.12727).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    the query's candidate list with graded labels in [0, 1]; ``label >= positive_threshold`` marks a
    positive, -1.0 an empty slot. The query's own non-positive slots and every other valid passage
    of the batch (all ranks) are negatives, except in-batch copies of the query's own documents.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        positive_threshold: label at or above which a slot is a positive (default 0.5).
        similarity: ``"dot"`` (default, the authors' code) or ``"cosine"``.
        scale: multiplies the similarity (default 1, the authors' code).
        grade_weighting: w_p = the positive's graded label instead of 1 (default False).
        normalize_by_positives: divide a query's loss by sum of w_p, i.e. |P| (default False, as
            the authors' code).
        gather_across_devices: under torch.distributed, negatives span every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("lsepair")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # scores 2, 1, 0
        >>> labels = torch.tensor([[1.0, 0.75, 0.0]])                     # two positives
        >>> # log(1 + e^(0-2) + e^(0-1))
        >>> round(loss.compute_loss_from_embeddings(query, docs, labels).item(), 4)
        0.4076
    """

    def __init__(self, model: torch.nn.Module | None = None, positive_threshold: float = 0.5,
                 similarity: Similarity = "dot", scale: float = 1.0, grade_weighting: bool = False,
                 normalize_by_positives: bool = False, gather_across_devices: bool = True) -> None:
        super().__init__(model, positive_threshold, similarity, scale, grade_weighting,
                         gather_across_devices)
        self.normalize_by_positives = normalize_by_positives

    def counted_rows(self, sets: PositiveSets) -> Tensor:
        # Without a negative there is no pair: the authors drop such rows from the mean too.
        return super().counted_rows(sets) & sets.negatives.any(dim=-1)

    def row_losses(self, scores: Tensor, sets: PositiveSets, rows: slice) -> Tensor:
        sets = sets.select(rows)
        log_negatives = masked_logsumexp(scores, sets.negatives)
        log_pairs = log_negatives + weighted_positive_logsumexp(-scores, sets)
        loss = F.softplus(log_pairs)
        if self.normalize_by_positives:
            loss = loss / sets.weights.sum(dim=-1).clamp_min(torch.finfo(loss.dtype).tiny)
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "normalize_by_positives": self.normalize_by_positives}
