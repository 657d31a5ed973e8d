"""BiXSE: pointwise binary cross-entropy on graded relevance, with in-batch negatives."""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import (
    InBatchCandidates,
    Similarity,
    in_batch_candidates,
    similarity_matrix,
    with_rank_averaged_gradient,
)
from bixse.losses.registry import register

PositiveWeight = float | Literal["balanced"]


@register("bixse")
class BiXSELoss(BixseLoss):
    """BiXSE loss (Tsirigotis et al. 2025, arXiv 2508.06781).

    "BiXSE: Improving Dense Retrieval via Probabilistic Graded Relevance Distillation" reads a
    graded relevance score y in [0, 1] (e.g. an LLM grade / max grade) as the probability that
    the pair is relevant and fits the bi-encoder with binary cross-entropy. Every other document
    in the (cross-device) batch is an extra pair with target 0, so one labelled pair per query
    suffices.

    Formula, for query i and every document slot j of the batch::

        z_ij = scale * sim(q_i, d_j) + b                    (b a learnable scalar)
        t_ij = label of slot j   if j is one of row i's own slots (document_0, hard negatives)
               0                 otherwise (in-batch negative)
        w_ij = positive_weight   on row i's own slots, 1 on in-batch negatives,
               0 on empty slots and on copies of row i's own documents in other rows
        L    = sum_ij w_ij * BCE(z_ij, t_ij) / sum_ij w_ij
        BCE(z, t) = -[t * log sigmoid(z) + (1 - t) * log(1 - sigmoid(z))]

    The paper's full text was not reachable; its abstract fixes the pointwise BCE, graded scores as
    probabilistic targets and in-batch negatives. The defaults follow a public reimplementation:
    ``scale=20`` on cosine similarity, ``b`` learnable from 0, plain mean over all valid pairs
    (``positive_weight=1``). A weight on whole pairs (rather than torch's ``pos_weight`` on the
    target term) keeps each pair's optimum at sigmoid(z) = t, so graded labels stay calibrated
    probabilities; the 1 : (B - 1) imbalance of labelled pairs to in-batch negatives is absorbed
    by the learnable bias, which drifts negative as in SigLIP. ``"balanced"`` instead weights each
    row's labelled pairs so that they count as much as its in-batch negatives together.

    The bias is an ``nn.Parameter`` of the loss. ``SentenceTransformerTrainer`` (sentence-
    transformers >= 3) builds its optimizer from ``loss.named_parameters()``, which include the
    model's and this bias, and its name keeps it out of weight decay. DDP wraps only the model,
    so the loss averages the bias gradient over ranks itself. The bias does not affect ranking;
    the saved model does not need it.

    Args:
        model: the SentenceTransformer to train (None for ``compute_loss_from_embeddings`` only).
        scale: multiplies the similarity (an inverse temperature).
        bias: initial value of the logit offset b.
        learnable_bias: train b (True) or keep it fixed.
        similarity: ``"cosine"`` or ``"dot"``.
        positive_weight: weight of each labelled pair relative to an in-batch negative (weight 1),
            or ``"balanced"`` (per row: number of in-batch negatives / number of labelled slots).
        gather_across_devices: with torch.distributed, every rank's documents are negatives.

    Inputs:
        Layout ``pointwise``: columns ``query, document_0, ..., document_{M-1}`` and ``label`` (M
        floats). ``label[0]`` is the graded score of document_0, ``label[k]`` that of hard
        negative k (0.0 when unknown), -1.0 marks an empty slot. Embeddings: query (B, d),
        documents (B, M, d), labels (B, M).

    Example:
        >>> import torch
        >>> loss = BiXSELoss()
        >>> query, docs = torch.randn(4, 8), torch.randn(4, 2, 8)
        >>> labels = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.5, -1.0], [1.0, 0.0]])
        >>> loss.compute_loss_from_embeddings(query, docs, labels).shape
        torch.Size([])
    """

    layout = "pointwise"
    citation = """
@misc{tsirigotis2025bixse,
      title={BiXSE: Improving Dense Retrieval via Probabilistic Graded Relevance Distillation},
      author={Christos Tsirigotis and Vaibhav Adlakha and Joao Monteiro and Aaron Courville and Perouz Taslakian},
      year={2025},
      eprint={2508.06781},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2508.06781},
}
"""

    def __init__(self, model: nn.Module | None = None, scale: float = 20.0, bias: float = 0.0,
                 learnable_bias: bool = True, similarity: Similarity = "cosine",
                 positive_weight: PositiveWeight = 1.0, gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        if not scale > 0:
            raise InputError(f"must be positive, got {scale}", field="scale")
        if similarity not in get_args(Similarity):
            raise InputError(f"must be one of {get_args(Similarity)}, got {similarity!r}",
                             field="similarity")
        weight_ok = isinstance(positive_weight, (int, float)) and positive_weight > 0
        if positive_weight != "balanced" and not weight_ok:
            raise InputError(f"must be a positive number or 'balanced', got {positive_weight!r}",
                             field="positive_weight")
        self.scale = scale
        self.bias = nn.Parameter(torch.tensor(float(bias)), requires_grad=learnable_bias)
        self.similarity: Similarity = similarity
        self.positive_weight = positive_weight

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        batch = in_batch_candidates(query_emb, doc_emb, labels, doc_keys,
                                    self.gather_across_devices)
        rows = batch.local_rows
        scores = similarity_matrix(batch.queries[rows], batch.documents, self.similarity).float()
        logits = self.scale * scores + with_rank_averaged_gradient(self.bias)
        targets = batch.targets[rows].float()
        pair_loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        weights = self.pair_weights(batch)
        # Normalised by the global weight total over ranks, so the mean of the ranks' losses
        # (what DDP averages) equals the loss of the whole batch on one process.
        per_rank_total = (weights.sum() / batch.world_size).clamp_min(1e-12)
        return (weights[rows] * pair_loss).sum() / per_rank_total

    def pair_weights(self, batch: InBatchCandidates) -> Tensor:
        """(Q, N) weight of every (query, document slot) pair of the global batch."""
        labelled = batch.valid & batch.own
        in_batch = batch.negatives
        if self.positive_weight == "balanced":
            negatives_per_row = in_batch.sum(1, keepdim=True).clamp_min(1)
            own_weight = negatives_per_row / labelled.sum(1, keepdim=True).clamp_min(1)
        else:
            own_weight = torch.tensor(float(self.positive_weight), device=labelled.device)
        return torch.where(labelled, own_weight, in_batch.float()).float()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "bias": round(float(self.bias.detach()), 6),
            "learnable_bias": self.bias.requires_grad,
            "similarity": self.similarity,
            "positive_weight": self.positive_weight,
            "gather_across_devices": self.gather_across_devices,
        }
