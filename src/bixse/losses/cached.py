"""GradCache for every bixse loss: the same loss and gradients, memory bounded by a mini-batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers.base.losses.gradcache import CachedLossMixin, has_static_embedding_input
from torch import Tensor, nn

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import document_keys, label_dtype

GRADCACHE_CITATION = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


class CachedLoss(CachedLossMixin, nn.Module):
    """Any bixse loss with gradient caching (GradCache: Gao et al. 2021, arXiv 2101.06983).

    "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup": a loss over in-batch
    negatives couples every row of the batch, so the batch cannot be split into independent
    pieces, but its gradient can be routed through the embeddings. For a batch of B rows:

    1. embed every column in mini-batches of ``mini_batch_size`` rows without an autograd graph;
    2. compute the wrapped loss L on the whole batch's embeddings e and its gradients dL/de (and
       dL/dθ for the loss's own parameters θ, BiXSE's bias);
    3. re-embed each mini-batch with a graph, replaying step 1's RNG state (same dropout masks),
       and back-propagate the surrogate <e_mb, dL/de_mb> into the model, one mini-batch at a time.

    Formula: the loss is the wrapped loss's, unchanged, L_cached(batch) = L(batch), and so are its
    gradients (to float rounding): only the peak memory changes, from the activations of B rows
    per column to those of ``mini_batch_size`` rows (plus the (B, d) embeddings and the loss's own
    score matrix), at the price of a second forward pass. Steps 1 and 3 are sentence-transformers'
    ``CachedLossMixin`` (``sentence_transformers.base.losses.gradcache``; bixse pins the tested
    range, sentence-transformers >= 6.0, < 7).

    What the plain losses do happens here too: the duplicate-document mask comes from the token
    ids of the whole batch (``document_keys``, computed before any module can alter the features),
    the cross-device gather runs in step 2 as in the plain loss, and the loss's own parameters get
    their gradient from step 2, scaled like the model's by whatever the trainer back-propagates
    (gradient accumulation, the fp16 loss scale).

    The wrapper takes over the wrapped loss's ``model``: ``loss.model`` is set to None, so the
    model is a submodule once (the optimizer and the checkpoint's ``loss_state.pt`` see each
    weight once) and the wrapped loss keeps only its own parameters, as the registered submodule
    ``loss``.

    Args:
        loss: a bixse loss built with a model (e.g. ``get_loss("bixse", model)``).
        mini_batch_size: rows embedded at once in steps 1 and 3; what bounds the memory.
        show_progress_bar: show a bar over the mini-batches.

    Inputs:
        Those of the wrapped loss (its ``layout``): columns ``query, document_0..`` and ``label``
        (B, M). Embeddings handed to it: query (B, d), documents (B, M, d), labels (B, M).

    Example:
        >>> from bixse.losses import get_loss
        >>> from bixse.losses.cached import CachedLoss
        >>> loss = CachedLoss(get_loss("bixse", model), mini_batch_size=32)  # doctest: +SKIP
        >>> # a SentenceTransformerTrainer(loss=loss, ...) at batch 1024 holds 32 rows' activations
    """

    def __init__(self, loss: BixseLoss, mini_batch_size: int = 32, show_progress_bar: bool = False) -> None:
        super().__init__()
        if not isinstance(loss, BixseLoss):
            raise TypeError(f"CachedLoss wraps a bixse loss, got {type(loss).__name__}")
        if loss.model is None:
            raise InputError(f"{type(loss).__name__} was built without a model; CachedLoss embeds with that model",
                             field="mini_batch_size")
        if not isinstance(mini_batch_size, int) or isinstance(mini_batch_size, bool) or mini_batch_size <= 0:
            raise InputError(f"must be a positive integer, got {mini_batch_size!r}", field="mini_batch_size")
        if has_static_embedding_input(loss.model):
            raise InputError("CachedLoss cannot split the inputs of a StaticEmbedding model into mini-batches; "
                             "train it without --mini-batch-size", field="mini_batch_size")
        model = loss.model
        loss.model = None
        # Registered first: the model's parameters keep their "model." names (the trainer's rules
        # for the loss's own parameters and their checkpoint state rely on that prefix).
        self.model = model
        self.loss = loss
        self.mini_batch_size = mini_batch_size
        self.show_progress_bar = show_progress_bar
        # Of the batch in flight: its document keys, and the loss's own (parameter, dL/dθ) of step 2.
        self._doc_keys: Tensor | None = None
        self._own_gradients: list[tuple[nn.Parameter, Tensor]] = []

    @property
    def layout(self) -> str:
        return self.loss.layout

    @property
    def citation(self) -> str:
        return self.loss.citation.rstrip() + "\n" + GRADCACHE_CITATION

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        features = list(sentence_features)
        self._doc_keys = document_keys(features[1:])
        self._own_gradients = []
        try:
            value = self.forward_cached(features, labels)
            own_gradients = self._own_gradients
        finally:
            self._doc_keys, self._own_gradients = None, []
        # forward_cached returns a detached value whose hook runs step 3 for the model. The loss's
        # own parameters get their step-2 gradient g through s = sum(p * g), added as s - s.detach():
        # exactly 0 in value, gradient g scaled by the incoming gradient, as the model's is.
        for parameter, gradient in own_gradients:
            surrogate = (parameter * gradient).sum()
            value = value + (surrogate - surrogate.detach())
        return value

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *,
                       with_backward: bool = False) -> Tensor:
        """The wrapped loss on the whole batch's embeddings; with ``with_backward``, leave dL/de in
        each embedding's ``.grad`` (what the mixin caches) and keep dL/dθ for ``forward``."""
        query_emb = torch.cat(reps[0])
        doc_emb = torch.stack([torch.cat(column) for column in reps[1:]], dim=1)
        labels = labels.to(doc_emb.device, label_dtype(doc_emb.dtype)).reshape(doc_emb.shape[:2])
        keys = None if self._doc_keys is None else self._doc_keys.to(doc_emb.device)
        value = self.loss.compute_loss_from_embeddings(query_emb, doc_emb, labels, keys)
        if not with_backward:
            return value
        embeddings = [rep for column in reps for rep in column]
        own_parameters = [p for p in self.loss.parameters() if p.requires_grad]
        gradients = torch.autograd.grad(value, embeddings + own_parameters, allow_unused=True)
        for rep, gradient in zip(embeddings, gradients):
            rep.grad = gradient  # None for an unused column: the mixin then names the column
        self._own_gradients = [(parameter, gradient) for parameter, gradient
                               in zip(own_parameters, gradients[len(embeddings):]) if gradient is not None]
        return value.detach()

    def get_config_dict(self) -> dict[str, Any]:
        return {**self.loss.get_config_dict(), "mini_batch_size": self.mini_batch_size}
