"""InfoNCE: hand-computed values, masking, and equality with sentence-transformers' MNRL."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers import util
from sentence_transformers.losses import MultipleNegativesRankingLoss

from bixse.errors import InputError
from bixse.losses import LOSSES
from bixse.losses.infonce import InfoNCELoss

# Cosines (see test_bixse.py):   d1     h1     d2     h2
#                         q1    0.6    -1      0     0.8
#                         q2    0.8     0      1    -0.6      times scale 2 below.
QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
DOCS = torch.tensor([[[0.6, 0.8], [-1.0, 0.0]], [[0.0, 1.0], [0.8, -0.6]]], dtype=torch.float64)
LABELS = torch.zeros(2, 2, dtype=torch.float64)


def nll(positive: float, *candidates: float) -> float:
    """-log(e^positive / sum of e^candidate), the positive among the candidates."""
    return -(positive - math.log(sum(math.exp(c) for c in candidates)))


def test_registered_as_contrastive() -> None:
    assert LOSSES["infonce"] is InfoNCELoss and InfoNCELoss.layout == "contrastive"


def test_value_2x2_pairs_only() -> None:
    loss = InfoNCELoss(scale=2.0).compute_loss_from_embeddings(QUERY, DOCS[:, :1], LABELS[:, :1])
    expected = (nll(1.2, 1.2, 0.0) + nll(2.0, 1.6, 2.0)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_value_with_hard_negatives() -> None:
    loss = InfoNCELoss(scale=2.0).compute_loss_from_embeddings(QUERY, DOCS, LABELS)
    expected = (nll(1.2, 1.2, -2.0, 0.0, 1.6) + nll(2.0, 1.6, 0.0, 2.0, -1.2)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_duplicate_document_leaves_the_softmax() -> None:
    keys = torch.tensor([[10, 11], [12, 10]])  # row 1's hard negative is row 0's positive
    loss = InfoNCELoss(scale=2.0).compute_loss_from_embeddings(QUERY, DOCS, LABELS, keys)
    expected = (nll(1.2, 1.2, -2.0, 0.0) + nll(2.0, 0.0, 2.0, -1.2)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_empty_slot_is_ignored() -> None:
    labels = LABELS.clone()
    labels[1, 1] = -1.0
    loss = InfoNCELoss(scale=2.0).compute_loss_from_embeddings(QUERY, DOCS, labels)
    expected = (nll(1.2, 1.2, -2.0, 0.0) + nll(2.0, 1.6, 0.0, 2.0)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_row_without_positive_is_not_counted() -> None:
    labels = torch.tensor([[0.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    loss = InfoNCELoss(scale=2.0).compute_loss_from_embeddings(QUERY, DOCS, labels)
    assert loss.item() == pytest.approx(nll(1.2, 1.2, -2.0, 1.6), abs=1e-6)


def test_batch_without_any_positive_gives_zero() -> None:
    docs = DOCS.clone().requires_grad_(True)
    value = InfoNCELoss().compute_loss_from_embeddings(QUERY, docs, torch.tensor([[-1.0, 0.0], [-1.0, 0.0]]))
    value.backward()
    assert value.item() == 0.0 and torch.equal(docs.grad, torch.zeros_like(docs))


@pytest.mark.parametrize("hard_negatives", [0, 3])
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_matches_multiple_negatives_ranking_loss(hard_negatives: int, similarity: str) -> None:
    generator = torch.Generator().manual_seed(3)
    slots = 1 + hard_negatives
    query = torch.randn(8, 32, generator=generator)
    docs = torch.randn(8, slots, 32, generator=generator)
    scale, similarity_fct = (20.0, util.cos_sim) if similarity == "cosine" else (1.0, util.dot_score)
    ours_inputs = (query.clone().requires_grad_(True), docs.clone().requires_grad_(True))
    theirs_inputs = (query.clone().requires_grad_(True), docs.clone().requires_grad_(True))
    ours = InfoNCELoss(scale=scale, similarity=similarity).compute_loss_from_embeddings(
        *ours_inputs, torch.zeros(8, slots))
    mnrl = MultipleNegativesRankingLoss(None, scale=scale, similarity_fct=similarity_fct)
    theirs = mnrl.compute_loss_from_embeddings(
        [theirs_inputs[0], *theirs_inputs[1].unbind(dim=1)], None)
    ours.backward()
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    for mine, reference in zip(ours_inputs, theirs_inputs):
        assert torch.allclose(mine.grad, reference.grad, atol=1e-6)


def test_raising_the_positive_score_lowers_the_loss() -> None:
    generator = torch.Generator().manual_seed(1)
    query = torch.eye(3, 4, dtype=torch.float64)
    docs = 0.1 * torch.randn(3, 2, 4, generator=generator, dtype=torch.float64)
    shift = torch.zeros((), dtype=torch.float64, requires_grad=True)
    moved = docs.clone()
    moved[0, 0] = docs[0, 0] + shift * query[0]  # raises s(q1, d1) only: the queries are orthogonal
    value = InfoNCELoss(scale=1.0, similarity="dot").compute_loss_from_embeddings(
        query, moved, torch.zeros(3, 2, dtype=torch.float64))
    (grad,) = torch.autograd.grad(value, shift)
    # d loss / d s_pos = -(1 - softmax(s_pos)) / B
    assert -1 / 3 < grad.item() < 0


@pytest.mark.parametrize("similarity, scale, magnitude", [("cosine", 1e4, 1.0), ("dot", 20.0, 1e3)])
def test_stable_at_huge_logits(similarity: str, scale: float, magnitude: float) -> None:
    generator = torch.Generator().manual_seed(2)
    query = (magnitude * torch.randn(4, 16, generator=generator)).requires_grad_(True)
    docs = (magnitude * torch.randn(4, 2, 16, generator=generator)).requires_grad_(True)
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, -1.0], [1.0, 0.0]])
    value = InfoNCELoss(scale=scale, similarity=similarity).compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert torch.isfinite(value) and value.item() >= 0
    assert torch.isfinite(query.grad).all() and torch.isfinite(docs.grad).all()


def test_config_and_validation() -> None:
    assert InfoNCELoss().get_config_dict() == {"scale": 20.0, "similarity": "cosine", "gather_across_devices": True}
    for bad in ({"scale": -1.0}, {"similarity": "l2"}):
        with pytest.raises(InputError):
            InfoNCELoss(**bad)
