"""Soft-InfoNCE: softmax cross-entropy of a query's scores against its normalised graded scores."""

from __future__ import annotations

from typing import Any, get_args

import torch
from torch import Tensor, nn

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import Similarity, in_batch_candidates, similarity_matrix
from bixse.losses.registry import register
from bixse.losses.scored_list import at_least_float32, masked_log_softmax


@register("soft_infonce")
class SoftInfoNCELoss(BixseLoss):
    """Soft-InfoNCE, the graded-target InfoNCE baseline of BiXSE (arXiv 2508.06781).

    Tsirigotis et al. 2025, "BiXSE: Improving Dense Retrieval via Probabilistic Graded Relevance
    Distillation", compare their pointwise BCE with this listwise use of the same graded scores:
    the softmax over a query's candidates is fitted to the query's graded scores, normalised to a
    distribution.

    Formula, for query row i with own filled slots O_i (graded scores y_ij in [0, 1]) and the
    candidate set C_i (every valid document slot of the cross-device batch: all rows' slots, less
    empty slots and other rows' copies of row i's own documents)::

        s_ij = scale * sim(q_i, d_j)                                  for j in C_i
        t_ij = y_ij / sum_{k in O_i} y_ik   if j in O_i,   0 otherwise
        L    = -(1/B') sum_i sum_{j in C_i} t_ij * log( exp(s_ij) / sum_{c in C_i} exp(s_ic) )

    B' counts the rows of the global batch whose own scores sum to more than 0; the other rows
    have no target distribution and contribute nothing. Every filled own slot counts, below
    ``positive_threshold`` included. With a single own slot of target 1 per row (document_0,
    every other own slot 0 or empty) the targets are one-hot and the loss equals ``infonce``
    with slot 0 as the positive and the other slots as hard negatives.

    Args:
        model: the SentenceTransformer to train (None for ``compute_loss_from_embeddings`` only).
        positive_threshold: the score a query needs on at least one document for the row builder
            (``bixse.training.dataset.list_rows``) to keep it (0 < t <= 1); the targets do not
            depend on it.
        scale: inverse temperature (20 = temperature 0.05, as ``infonce``).
        similarity: ``"cosine"`` or ``"dot"``.
        gather_across_devices: with torch.distributed, every rank's documents are candidates.

    Inputs:
        Layout ``multi_positive``: ``query, document_0 .. document_{M-1}`` (the query's judged
        documents, highest score first) and ``label`` (M graded scores in [0, 1], -1.0 = empty
        slot). Embeddings: query (B, d), documents (B, M, d), labels (B, M).

    Example:
        >>> import torch
        >>> loss = SoftInfoNCELoss(scale=1.0, similarity="dot")
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0]]])   # scores 2, 1
        >>> labels = torch.tensor([[1.0, 1.0]])                # targets 1/2, 1/2
        >>> # log(e^2 + e^1) - (2 + 1) / 2
        >>> round(loss.compute_loss_from_embeddings(query, docs, labels).item(), 4)
        0.8133
    """

    layout = "multi_positive"
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

    def __init__(self, model: nn.Module | None = None, positive_threshold: float = 0.5,
                 scale: float = 20.0, similarity: Similarity = "cosine",
                 gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        if not 0.0 < positive_threshold <= 1.0:
            raise InputError(f"must be in (0, 1], got {positive_threshold}", field="positive_threshold")
        if not scale > 0:
            raise InputError(f"must be positive, got {scale}", field="scale")
        if similarity not in get_args(Similarity):
            raise InputError(f"must be one of {get_args(Similarity)}, got {similarity!r}",
                             field="similarity")
        self.positive_threshold = positive_threshold
        self.scale = scale
        self.similarity: Similarity = similarity

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        batch = in_batch_candidates(query_emb, doc_emb, labels, doc_keys, self.gather_across_devices)
        own = batch.valid & batch.own
        grades = torch.where(own, at_least_float32(batch.targets.detach()), 0.0)
        grade_total = grades.sum(dim=1)  # (Q,) over every rank's rows: the mean is global
        counted = grade_total > 0
        local = batch.local_rows
        # Only this rank's queries are scored; the gather already routes their gradients home.
        scores = similarity_matrix(batch.queries[local], batch.documents, self.similarity)
        scores = at_least_float32(scores) * self.scale
        log_prob = masked_log_softmax(scores, batch.valid[local])
        tiny = torch.finfo(grades.dtype).tiny  # uncounted rows: 0 / tiny, never 0 / 0
        targets = grades[local] / grade_total[local].clamp_min(tiny).unsqueeze(1)
        row_loss = -(targets * log_prob).sum(dim=1)
        total = torch.where(counted[local], row_loss, torch.zeros_like(row_loss)).sum()
        # The global row count / world size: the ranks' mean equals the one-process batch mean.
        return total * batch.world_size / counted.sum().clamp_min(1)

    def get_config_dict(self) -> dict[str, Any]:
        return {"positive_threshold": self.positive_threshold, "scale": self.scale,
                "similarity": self.similarity, "gather_across_devices": self.gather_across_devices}
