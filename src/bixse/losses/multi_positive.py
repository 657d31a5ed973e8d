"""What the four multi-positive objectives share: positive sets, masked log-sum-exp, the row mean.

Wang et al. compare JointLH, SumMargLH, LSEPair and Rand1LH on one batch view, and so do we:
every valid passage of the (cross-device) batch is a candidate for every query, a query's
positives P are its own slots with ``label >= positive_threshold``, and the score is
``s = scale * sim(q, d)`` (the authors' code: a plain dot product, scale 1). Rows without a
positive (and, for LSEPair, without a negative) contribute nothing and are left out of the mean,
as in the authors' code. The mean is taken over the counted rows of the *global* batch, so two
ranks of B/2 rows give, after DDP averages their gradients, the single-process loss on B rows.

Reference: Benben Wang, Minghao Tang, Hengran Zhang, Jiafeng Guo, Keping Bi. "Training Dense
Retrievers with Multiple Positive Passages", arXiv 2602.12727 (KDD 2026); authors' code:
github.com/WangLanHuaJiaoFen/Multi-Positive-Passages (src/tevatron/modeling/encoder.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import torch
from torch import Tensor

from bixse.errors import InputError
from bixse.losses.base import BixseLoss
from bixse.losses.batch import InBatchCandidates, Similarity, in_batch_candidates, similarity_matrix
from bixse.losses.scored_list import at_least_float32

MULTI_POSITIVE_CITATION = """
@misc{wang2026multipositive,
    title={Training Dense Retrievers with Multiple Positive Passages},
    author={Benben Wang and Minghao Tang and Hengran Zhang and Jiafeng Guo and Keping Bi},
    year={2026},
    eprint={2602.12727},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""


@dataclass(frozen=True)
class PositiveSets:
    """Which document slots of the global batch (N columns) are candidates and positives of each row."""

    candidates: Tensor  # (rows, N) bool: valid passages, the support of every softmax
    positives: Tensor   # (rows, N) bool: own slots with label >= positive_threshold
    weights: Tensor     # (rows, N) weight of each positive (1, or its graded label); 0 elsewhere
    slots_per_row: int

    @property
    def negatives(self) -> Tensor:
        """(rows, N) bool: every candidate that is not one of this query's positives."""
        return self.candidates & ~self.positives

    def select(self, rows: slice) -> PositiveSets:
        return PositiveSets(self.candidates[rows], self.positives[rows], self.weights[rows],
                            self.slots_per_row)


def masked_logsumexp(values: Tensor, mask: Tensor) -> Tensor:
    """Row-wise log(sum over mask of exp(values)); -inf for an empty row (callers drop those rows)."""
    return torch.logsumexp(values.masked_fill(~mask, float("-inf")), dim=-1)


def weighted_positive_logsumexp(values: Tensor, sets: PositiveSets) -> Tensor:
    """Row-wise log(sum over p in P of w_p * exp(values_p))."""
    return masked_logsumexp(values + sets.weights.log(), sets.positives)


class MultiPositiveLoss(BixseLoss):
    """Base of the multi-positive objectives; a subclass supplies ``row_losses``.

    Args:
        model: the SentenceTransformer to train (None for the functional use).
        positive_threshold: a slot with ``label >= positive_threshold`` is a positive (0 < t <= 1).
        similarity: ``"dot"`` (the authors' code) or ``"cosine"``.
        scale: multiplies the similarity (inverse temperature); 1 as in the authors' code.
        grade_weighting: weight each positive's term by its graded label instead of 1 (off in
            the paper, whose positives are binary).
        gather_across_devices: under torch.distributed, candidates span every rank's batch.
    """

    layout = "multi_positive"
    citation = MULTI_POSITIVE_CITATION

    def __init__(self, model: torch.nn.Module | None = None, positive_threshold: float = 0.5,
                 similarity: Similarity = "dot", scale: float = 1.0, grade_weighting: bool = False,
                 gather_across_devices: bool = True) -> None:
        super().__init__(model, gather_across_devices)
        if not 0.0 < positive_threshold <= 1.0:
            raise InputError(f"must be in (0, 1], got {positive_threshold}", field="positive_threshold")
        if similarity not in get_args(Similarity):
            raise InputError(f"must be one of {get_args(Similarity)}, got {similarity!r}",
                             field="similarity")
        if not scale > 0:
            raise InputError(f"must be positive, got {scale}", field="scale")
        self.positive_threshold = positive_threshold
        self.similarity: Similarity = similarity
        self.scale = scale
        self.grade_weighting = grade_weighting

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        """Mean row loss over the rows that count; (B, d) queries, (B, M, d) slots, (B, M) labels."""
        batch = in_batch_candidates(query_emb, doc_emb, labels, doc_keys, self.gather_across_devices)
        sets = self.positive_sets(batch)
        counted = self.counted_rows(sets)  # (Q,) over every rank's rows: the mean is global
        local = batch.local_rows
        # Only this rank's queries are scored; the gather already routes their gradients home.
        scores = similarity_matrix(batch.queries[local], batch.documents, self.similarity)
        scores = at_least_float32(scores) * self.scale
        row_loss = self.row_losses(scores, sets, local)
        # where (not multiply): rows that do not count may hold inf/NaN, which must not reach the sum.
        total = torch.where(counted[local], row_loss, torch.zeros_like(row_loss)).sum()
        return total * batch.world_size / counted.sum().clamp_min(1)

    def positive_sets(self, batch: InBatchCandidates) -> PositiveSets:
        """Candidates, positives and positive weights of every query row of the global batch."""
        targets = at_least_float32(batch.targets)
        positives = batch.valid & batch.own & (targets >= self.positive_threshold)
        weights = torch.where(positives, targets if self.grade_weighting else torch.ones_like(targets),
                              torch.zeros_like(targets))
        return PositiveSets(batch.valid, positives, weights, batch.slots_per_row)

    def counted_rows(self, sets: PositiveSets) -> Tensor:
        """(Q,) bool: rows with at least one positive (weights are > 0 there: threshold > 0)."""
        return sets.positives.any(dim=-1)

    def row_losses(self, scores: Tensor, sets: PositiveSets, rows: slice) -> Tensor:
        """(B,) loss of each local row from its (B, N) scores; ``sets`` covers every global row,
        ``rows`` locates the local ones (``sets.select(rows)``)."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"positive_threshold": self.positive_threshold, "similarity": self.similarity,
                "scale": self.scale, "grade_weighting": self.grade_weighting}
