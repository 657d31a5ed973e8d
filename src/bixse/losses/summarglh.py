"""SumMargLH: the log of the probability mass a softmax over the batch puts on a query's positives.

Paper: Wang et al., "Training Dense Retrievers with Multiple Positive Passages", arXiv 2602.12727
(the objective comes from Zhang et al., "Utility-Focused LLM Annotation for Retrieval and
Retrieval-Augmented Generation", EMNLP 2025).

Formula (per query q with positives P, candidate set C = every valid passage of the cross-device
batch, positives included; s = scale * sim(q, d))::

    loss(q) = -log( sum over p in P of w_p * exp(s_p)  /  sum over c in C of exp(s_c) )
            = logsumexp_C(s) - logsumexp_P(s + log w)                 # w_p = 1 by default

The batch loss is the mean over queries with at least one positive (the authors' ``sum_mar``).
Unlike JointLH, the loss is satisfied once the positives *together* hold the mass, so the model
may concentrate it on the easiest positive.
"""

from __future__ import annotations

from torch import Tensor

from bixse.losses.multi_positive import (
    MultiPositiveLoss,
    PositiveSets,
    masked_logsumexp,
    weighted_positive_logsumexp,
)
from bixse.losses.registry import register


@register("summarglh")
class SumMargLHLoss(MultiPositiveLoss):
    """Summed marginal likelihood of a query's positives (SumMargLH, arXiv 2602.12727).

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
        grade_weighting: w_p = the positive's graded label instead of 1 (default False); the
            positives' mass is then a grade-weighted sum.
        gather_across_devices: under torch.distributed, candidates span every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("summarglh")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # scores 2, 1, 0
        >>> labels = torch.tensor([[1.0, 0.75, 0.0]])                     # two positives
        >>> # -log((e^2 + e) / (e^2 + e + 1))
        >>> round(loss.compute_loss_from_embeddings(query, docs, labels).item(), 4)
        0.0943
    """

    def row_losses(self, scores: Tensor, sets: PositiveSets, rows: slice) -> Tensor:
        sets = sets.select(rows)
        return masked_logsumexp(scores, sets.candidates) - weighted_positive_logsumexp(scores, sets)
