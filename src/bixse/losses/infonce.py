"""InfoNCE: softmax cross-entropy of each query's positive against in-batch and hard negatives."""

from __future__ import annotations

from typing import Any, get_args

import torch
from torch import Tensor, nn

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import Similarity, in_batch_candidates, similarity_matrix
from bixse.losses.registry import register


@register("infonce")
class InfoNCELoss(BixseLoss):
    """InfoNCE with in-batch negatives (van den Oord et al. 2018, arXiv 1807.03748).

    "Representation Learning with Contrastive Predictive Coding"; in dense retrieval the same
    objective is DPR's in-batch negatives loss and sentence-transformers'
    ``MultipleNegativesRankingLoss`` (which this loss matches to 1e-6 when no document repeats).

    Formula, for query i with positive document_0 p_i and the candidate set C_i (every valid
    document slot of the cross-device batch: all positives and all hard negatives)::

        L = -(1/B) sum_i log( exp(scale * sim(q_i, p_i)) / sum_{c in C_i} exp(scale * sim(q_i, c)) )

    Unlike ``MultipleNegativesRankingLoss``, C_i leaves out empty slots and other rows' copies of
    row i's own documents (a false negative would push the positive away from itself). B counts
    the rows whose document_0 is not empty.

    Args:
        model: the SentenceTransformer to train (None for ``compute_loss_from_embeddings`` only).
        scale: inverse temperature (20 = temperature 0.05, sentence-transformers' default).
        similarity: ``"cosine"`` or ``"dot"``.
        gather_across_devices: with torch.distributed, every rank's documents are negatives.

    Inputs:
        Layout ``contrastive``: ``query, document_0`` (the positive), ``document_1..`` (hard
        negatives) and ``label`` (M floats; only -1.0 = empty slot is read). Embeddings: query
        (B, d), documents (B, M, d), labels (B, M).

    Example:
        >>> import torch
        >>> loss = InfoNCELoss()
        >>> query, docs = torch.randn(4, 8), torch.randn(4, 3, 8)
        >>> loss.compute_loss_from_embeddings(query, docs, torch.zeros(4, 3)).shape
        torch.Size([])
    """

    layout = "contrastive"
    citation = """
@misc{oord2019representationlearningcontrastivepredictive,
      title={Representation Learning with Contrastive Predictive Coding},
      author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
      year={2019},
      eprint={1807.03748},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/1807.03748},
}
"""

    def __init__(self, model: nn.Module | None = None, scale: float = 20.0,
                 similarity: Similarity = "cosine", gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        if not scale > 0:
            raise InputError(f"must be positive, got {scale}", field="scale")
        if similarity not in get_args(Similarity):
            raise InputError(f"must be one of {get_args(Similarity)}, got {similarity!r}",
                             field="similarity")
        self.scale = scale
        self.similarity: Similarity = similarity

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        batch = in_batch_candidates(query_emb, doc_emb, labels, doc_keys,
                                    self.gather_across_devices)
        rows = batch.local_rows
        positive = batch.first_slot()
        has_positive = batch.valid[torch.arange(positive.numel(), device=positive.device), positive]
        keep = has_positive[rows]  # a row without a positive has nothing to rank
        queries = batch.queries[rows][keep]
        scores = self.scale * similarity_matrix(queries, batch.documents, self.similarity).float()
        scores = scores.masked_fill(~batch.valid[rows][keep], float("-inf"))
        local = torch.arange(scores.size(0), device=scores.device)
        log_prob = scores[local, positive[rows][keep]] - torch.logsumexp(scores, dim=1)
        # The global row count / world size: the ranks' mean equals the one-process batch mean.
        return -log_prob.sum() / (has_positive.sum().clamp_min(1) / batch.world_size)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity": self.similarity,
                "gather_across_devices": self.gather_across_devices}
