"""Rand1LH: InfoNCE with one of the query's positives, drawn afresh at every step.

Paper: Wang et al., "Training Dense Retrievers with Multiple Positive Passages", arXiv 2602.12727,
which finds this simple sampling a reliable baseline.

Formula (per query q with positives P; s = scale * sim(q, d))::

    p* ~ P                         # uniform; proportional to the graded label with grade_weighting
    C' = every valid passage of the cross-device batch, minus q's positives other than p*
    loss(q) = -log( exp(s_p*) / sum over c in C' of exp(s_c) )

The unsampled positives of q are left out of the softmax, not pushed down: in the authors' code
(``positive_type random_one``) the data loader puts only the sampled positive in the query's group,
so the other positives are absent from the batch. Other queries' positives stay in-batch
negatives, as there. The batch loss is the mean over queries with at least one positive.

Sampling is reproducible: a CPU ``torch.Generator`` seeded with ``seed`` draws, at every call,
one positive for every row of the global batch (so all ranks draw alike).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bixse.losses.batch import Similarity
from bixse.losses.multi_positive import MultiPositiveLoss, PositiveSets, masked_logsumexp
from bixse.losses.registry import register


@register("rand1lh")
class Rand1LHLoss(MultiPositiveLoss):
    """InfoNCE with one randomly sampled positive per query and step (Rand1LH, arXiv 2602.12727).

    Inputs: a dataset with columns ``query, document_0 .. document_{M-1}`` and ``label`` (M floats):
    the query's candidate list with graded labels in [0, 1]; ``label >= positive_threshold`` marks a
    positive, -1.0 an empty slot. The query's non-positive slots and every other valid passage of
    the batch (all ranks) are negatives, except in-batch copies of the query's own documents.

    Shapes (``compute_loss_from_embeddings``): query_emb (B, d), doc_emb (B, M, d), labels (B, M).

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        positive_threshold: label at or above which a slot is a positive (default 0.5).
        similarity: ``"dot"`` (default, the authors' code) or ``"cosine"``.
        scale: multiplies the similarity (default 1, the authors' code).
        grade_weighting: draw the positive with probability proportional to its graded label
            instead of uniformly (default False).
        seed: seed of the generator that draws the positives (default 0).
        gather_across_devices: under torch.distributed, candidates span every rank.

    Example::

        >>> import torch
        >>> from bixse.losses import get_loss
        >>> loss = get_loss("rand1lh", seed=0)
        >>> query = torch.tensor([[1.0, 0.0]])
        >>> docs = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])  # scores 2, 1, 0
        >>> labels = torch.tensor([[1.0, 0.75, 0.0]])                     # two positives
        >>> value = loss.compute_loss_from_embeddings(query, docs, labels).item()
        >>> # log(1 + e^(0 - s_p*)), p* drawn from the positives' scores 2 and 1
        >>> round(value, 4) in (0.1269, 0.3133)
        True
    """

    def __init__(self, model: torch.nn.Module | None = None, positive_threshold: float = 0.5,
                 similarity: Similarity = "dot", scale: float = 1.0, grade_weighting: bool = False,
                 seed: int = 0, gather_across_devices: bool = True) -> None:
        super().__init__(model, positive_threshold, similarity, scale, grade_weighting,
                         gather_across_devices)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    # The generator's state is the loss's state (in state_dict as "_extra_state"): a checkpoint
    # holds it, so a resumed run draws the positives an uninterrupted one would.
    def get_extra_state(self) -> Tensor:
        return self.generator.get_state()

    def set_extra_state(self, state: Tensor) -> None:
        self.generator.set_state(state)

    def sample_positives(self, sets: PositiveSets) -> Tensor:
        """(Q,) column of the positive drawn for every global row (any own slot if it has none)."""
        rows, slots = sets.weights.size(0), sets.slots_per_row
        diagonal = torch.arange(rows, device=sets.weights.device)
        # (Q, M): each row's own slots, the diagonal blocks of the (Q, Q * M) weights
        own_weights = sets.weights.view(rows, rows, slots)[diagonal, diagonal]
        own_weights = own_weights.detach().float().cpu()
        # multinomial needs mass on every row; rows without a positive are not counted anyway
        own_weights[own_weights.sum(dim=-1) == 0] = 1.0
        slot = torch.multinomial(own_weights, 1, generator=self.generator).squeeze(-1)
        return diagonal * slots + slot.to(diagonal.device)

    def row_losses(self, scores: Tensor, sets: PositiveSets, rows: slice) -> Tensor:
        chosen = self.sample_positives(sets)[rows]
        sets = sets.select(rows)
        is_chosen = torch.zeros_like(sets.positives).scatter_(-1, chosen.unsqueeze(-1), True)
        support = sets.candidates & ~(sets.positives & ~is_chosen)
        return masked_logsumexp(scores, support) - scores.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "seed": self.seed}
