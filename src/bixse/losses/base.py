"""The base every bixse loss shares: sentence-transformers' loss protocol over one batch layout.

A subclass implements ``compute_loss_from_embeddings`` on plain tensors (testable without a
model) and declares which ``layout`` of training rows it reads:

- ``pointwise``: slot 0 is a labelled pair with a graded target in [0, 1]; other slots are hard
  negatives with their own graded targets (BiXSE);
- ``contrastive``: slot 0 is the positive, other slots hard negatives (InfoNCE, MW-AUC);
- ``multi_positive``: all slots are the query's candidates; label >= ``positive_threshold``
  marks a positive (JointLH, SumMargLH, LSEPair, Rand1LH);
- ``scored_list``: all slots are candidates with teacher scores (RankNet, Margin-MSE, KL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bixse.losses.batch import document_keys, label_dtype

LAYOUTS = ("pointwise", "contrastive", "multi_positive", "scored_list")


class BixseLoss(nn.Module):
    """A loss that ``SentenceTransformerTrainer`` can train with: ``forward(sentence_features, labels)``.

    ``sentence_features`` holds the query column then the M document columns; ``labels`` is (B, M).
    """

    layout: ClassVar[str]
    citation: ClassVar[str] = ""

    def __init__(self, model: nn.Module | None = None, gather_across_devices: bool = True) -> None:
        super().__init__()
        self.model = model
        self.gather_across_devices = gather_across_devices

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        if self.model is None:
            raise ValueError(f"{type(self).__name__} was built without a model; call compute_loss_from_embeddings")
        # Imported here: sentence-transformers takes seconds to import, and the model-free
        # core (tests, benchmarks, spawned distributed workers) never needs it.
        from sentence_transformers.base.losses.merged_forward import embed_columns

        features = list(sentence_features)
        query_emb, *doc_columns = embed_columns(self.model, features)
        doc_emb = torch.stack(doc_columns, dim=1)
        labels = labels.to(doc_emb.device, label_dtype(doc_emb.dtype)).reshape(doc_emb.shape[:2])
        return self.compute_loss_from_embeddings(query_emb, doc_emb, labels, document_keys(features[1:]))

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        """Loss from (B, d) queries, (B, M, d) document slots and (B, M) labels (-1 = empty slot)."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        """The loss's parameters, recorded in the saved model card."""
        return {}
