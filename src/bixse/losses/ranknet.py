"""RankNet: pairwise logistic loss over the graded candidates of one query.

Paper: Burges et al., "Learning to Rank using Gradient Descent", ICML 2005 (no arXiv id).

Formula (per query q, over pairs (k, l) of q's own filled slots with label_k > label_l;
s = scale * sim(q, d), scale is RankNet's sigma)::

    loss(k, l) = -log sigmoid(s_k - s_l) = softplus(s_l - s_k)
    loss(k, l) *= |label_k - label_l|                    # if weight_by_label_gap
    loss = mean over all such pairs of the batch

This is RankNet's cross-entropy with the target probability P(k > l) = 1 for every strictly
ordered pair; ties contribute nothing. Only a query's own slots are compared: no in-batch
documents, so in-batch duplicates need no masking.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bixse.losses.batch import Similarity
from bixse.losses.registry import register
from bixse.losses.scored_list import ScoredListLoss


@register("ranknet")
class RankNetLoss(ScoredListLoss):
    """Pairwise RankNet loss over a query's graded candidate list (Burges et al., ICML 2005).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    graded scores in [0, 1] (or teacher scores) of the query's candidates, -1.0 for an empty slot.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        similarity: ``"dot"`` (default) or ``"cosine"``.
        scale: RankNet's sigma, multiplies the similarity (default 1, as in the paper).
        weight_by_label_gap: weight each pair by |label_k - label_l| (default False).
        gather_across_devices: under torch.distributed, average over the pairs of every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("ranknet")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # scores 2, 1, 0
        >>> labels = torch.tensor([[1.0, 0.5, 0.5]])          # pairs (0, 1), (0, 2); the tie is skipped
        >>> # (softplus(1 - 2) + softplus(0 - 2)) / 2
        >>> round(loss.compute_loss_from_embeddings(query, docs, labels).item(), 4)
        0.2201
    """

    citation = """
@inproceedings{burges2005ranknet,
    title={Learning to Rank using Gradient Descent},
    author={Chris Burges and Tal Shaked and Erin Renshaw and Ari Lazier and Matt Deeds
            and Nicole Hamilton and Greg Hullender},
    booktitle={Proceedings of the 22nd International Conference on Machine Learning},
    pages={89--96},
    year={2005}
}
"""

    def __init__(self, model: torch.nn.Module | None = None, similarity: Similarity = "dot",
                 scale: float = 1.0, weight_by_label_gap: bool = False,
                 gather_across_devices: bool = True) -> None:
        super().__init__(model, similarity, scale, gather_across_devices)
        self.weight_by_label_gap = weight_by_label_gap

    def sum_and_count(self, scores: Tensor, labels: Tensor, filled: Tensor) -> tuple[Tensor, Tensor]:
        gap = labels.unsqueeze(-1) - labels.unsqueeze(-2)  # (B, M, M): label_k - label_l
        pairs = filled.unsqueeze(-1) & filled.unsqueeze(-2) & (gap > 0)
        pair_loss = F.softplus(scores.unsqueeze(-2) - scores.unsqueeze(-1))  # softplus(s_l - s_k)
        if self.weight_by_label_gap:
            pair_loss = pair_loss * gap
        return torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(), pairs.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "weight_by_label_gap": self.weight_by_label_gap}
