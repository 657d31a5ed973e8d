"""Margin-MSE: the student's score margins regress onto a teacher's.

Paper: Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture
Knowledge Distillation", arXiv 2010.02666.

Formula (per query q: slot 0 is the anchor, slots k > 0 the other filled candidates; labels are
teacher scores t; student scores s = scale * sim(q, d))::

    loss = mean over (q, k > 0) of ( (s_0 - s_k) - (t_0 - t_k) )^2

With every slot filled this equals sentence-transformers' ``MarginMSELoss`` given the labels
``[t_0, t_1, ..., t_{M-1}]`` (it converts them to the margins t_0 - t_k itself). A row whose
slot 0 is empty contributes nothing. Teacher scores must differ from -1.0, the empty-slot marker.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bixse.losses.registry import register
from bixse.losses.scored_list import ScoredListLoss


@register("margin_mse")
class MarginMSELoss(ScoredListLoss):
    """MSE between student and teacher score margins (Margin-MSE, arXiv 2010.02666).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    the teacher's score of each candidate (document_0 is the margin anchor, usually the positive),
    -1.0 for an empty slot.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        similarity: ``"dot"`` (default, as the paper and sentence-transformers) or ``"cosine"``.
        scale: multiplies the student similarity (default 1), to meet the teacher's score range.
        gather_across_devices: under torch.distributed, average over the margins of every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("margin_mse")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # student scores 2, 1, 0
        >>> teacher = torch.tensor([[0.9, 0.4, 0.1]])                     # margins 0.5, 0.8
        >>> # ((1 - 0.5)^2 + (2 - 0.8)^2) / 2
        >>> round(loss.compute_loss_from_embeddings(query, docs, teacher).item(), 4)
        0.845
    """

    citation = """
@misc{hofstaetter2021marginmse,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofst{\\"a}tter and Sophia Althammer and Michael Schr{\\"o}der
            and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""

    def sum_and_count(self, scores: Tensor, labels: Tensor, filled: Tensor) -> tuple[Tensor, Tensor]:
        margins = filled[:, :1] & filled[:, 1:]
        student = scores[:, :1] - scores[:, 1:]
        teacher = labels[:, :1] - labels[:, 1:]
        squared = torch.where(margins, (student - teacher) ** 2, torch.zeros_like(student))
        return squared.sum(), margins.sum()
