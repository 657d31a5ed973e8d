"""Listwise KL distillation: the student's softmax over a query's candidates matches the teacher's.

Papers: Lin et al., "Distilling Dense Representations for Ranking using Tightly-Coupled Teachers",
arXiv 2010.11386 (the reference of sentence-transformers' ``DistillKLDivLoss``); the listwise
form over a query's candidate list is RocketQAv2's (Ren et al., arXiv 2110.07367).

Formula (per query q over its own filled slots F; t = teacher scores (labels), s = sim(q, d))::

    p_k = softmax_F(t / teacher_temperature)_k
    log q_k = log_softmax_F(scale * s)_k
    loss(q) = KL(p || q) = sum over k in F of p_k * (log p_k - log q_k)
    loss = mean over queries with at least two filled slots

With every slot filled and ``scale = 1 / student_temperature`` this equals sentence-transformers'
``DistillKLDivLoss`` divided by student_temperature^2 (it rescales by T^2, Hinton et al.; we do
not, so scale acts as a plain inverse temperature). Teacher scores must differ from -1.0, the
empty-slot marker.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bixse.errors import InputError
from bixse.losses.batch import Similarity
from bixse.losses.registry import register
from bixse.losses.scored_list import ScoredListLoss, masked_log_softmax


@register("listwise_kl")
class ListwiseKLLoss(ScoredListLoss):
    """KL(teacher || student) over a query's candidate list (arXiv 2010.11386, 2110.07367).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    the teacher's score of each candidate, -1.0 for an empty slot.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        similarity: ``"dot"`` (default, as sentence-transformers) or ``"cosine"``.
        scale: multiplies the student similarity before its softmax (default 1).
        teacher_temperature: divides the teacher scores before their softmax (default 1).
        gather_across_devices: under torch.distributed, average over the lists of every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("listwise_kl")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])   # student scores 1, 0
        >>> teacher = torch.tensor([[0.0, 0.0]])              # uniform teacher
        >>> # log(1 + e) - 1/2 - log 2
        >>> round(loss.compute_loss_from_embeddings(query, docs, teacher).item(), 4)
        0.1201
    """

    citation = """
@misc{lin2020distilling,
    title={Distilling Dense Representations for Ranking using Tightly-Coupled Teachers},
    author={Sheng-Chieh Lin and Jheng-Hong Yang and Jimmy Lin},
    year={2020},
    eprint={2010.11386},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""

    def __init__(self, model: torch.nn.Module | None = None, similarity: Similarity = "dot",
                 scale: float = 1.0, teacher_temperature: float = 1.0,
                 gather_across_devices: bool = True) -> None:
        super().__init__(model, similarity, scale, gather_across_devices)
        if not teacher_temperature > 0:
            raise InputError(f"must be positive, got {teacher_temperature}",
                             field="teacher_temperature")
        self.teacher_temperature = teacher_temperature

    def sum_and_count(self, scores: Tensor, labels: Tensor, filled: Tensor) -> tuple[Tensor, Tensor]:
        lists = filled.sum(dim=-1) >= 2  # a softmax over one candidate is constant: nothing to learn
        teacher_log_probs = masked_log_softmax(labels / self.teacher_temperature, filled)
        student_log_probs = masked_log_softmax(scores, filled)
        teacher_probs = torch.where(filled, teacher_log_probs.exp(),
                                    torch.zeros_like(teacher_log_probs))
        # 0 * log 0 = 0: a teacher score of -inf (a candidate the teacher rules out) adds nothing.
        terms = torch.where(teacher_probs > 0, teacher_probs * (teacher_log_probs - student_log_probs),
                            torch.zeros_like(teacher_probs))
        row_kl = terms.sum(dim=-1)
        return torch.where(lists, row_kl, torch.zeros_like(row_kl)).sum(), lists.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "teacher_temperature": self.teacher_temperature}
