"""BiXSE: pointwise BCE on graded targets with in-batch negatives, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.errors import InputError
from bixse.losses import LOSSES, get_loss
from bixse.losses.bixse import BiXSELoss

# Two queries, each with document_0 and one hard negative; cosines chosen to be exact:
#            d1 = [.6, .8]   h1 = [-1, 0]   d2 = [0, 1]   h2 = [.8, -.6]
#   q1=[1,0]      0.6           -1              0             0.8
#   q2=[0,1]      0.8            0              1            -0.6
# With scale 2 and bias -1 the logits z = 2 * cos - 1 are
#   row 0:        0.2           -3             -1             0.6
#   row 1:        0.6           -1              1            -2.2
QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
DOCS = torch.tensor([[[0.6, 0.8], [-1.0, 0.0]], [[0.0, 1.0], [0.8, -0.6]]], dtype=torch.float64)
LABELS = torch.tensor([[1.0, 0.25], [0.5, 0.0]], dtype=torch.float64)


def bce(z: float, t: float) -> float:
    """-[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))] = log(1 + e^z) - t z."""
    return math.log1p(math.exp(z)) - t * z


def hand_loss(**params) -> BiXSELoss:
    return BiXSELoss(scale=2.0, bias=-1.0, **params)


def test_registered_as_pointwise() -> None:
    assert LOSSES["bixse"] is BiXSELoss and BiXSELoss.layout == "pointwise"
    assert "2508.06781" in BiXSELoss.citation


def test_value_2x2_pairs_only() -> None:
    loss = hand_loss().compute_loss_from_embeddings(QUERY, DOCS[:, :1], LABELS[:, :1])
    expected = (bce(0.2, 1.0) + bce(-1.0, 0.0) + bce(0.6, 0.0) + bce(1.0, 0.5)) / 4
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_value_with_hard_negatives_and_graded_targets() -> None:
    loss = hand_loss().compute_loss_from_embeddings(QUERY, DOCS, LABELS)
    row0 = bce(0.2, 1.0) + bce(-3.0, 0.25) + bce(-1.0, 0.0) + bce(0.6, 0.0)
    row1 = bce(0.6, 0.0) + bce(-1.0, 0.0) + bce(1.0, 0.5) + bce(-2.2, 0.0)
    assert loss.item() == pytest.approx((row0 + row1) / 8, abs=1e-6)


def test_positive_weight_scales_the_labelled_pairs() -> None:
    loss = hand_loss(positive_weight=3.0).compute_loss_from_embeddings(QUERY, DOCS[:, :1], LABELS[:, :1])
    expected = (3 * bce(0.2, 1.0) + bce(-1.0, 0.0) + bce(0.6, 0.0) + 3 * bce(1.0, 0.5)) / 8
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_balanced_weight_per_row() -> None:
    labels = LABELS.clone()
    labels[1, 1] = -1.0  # row 1's hard negative is an empty slot
    loss = hand_loss(positive_weight="balanced").compute_loss_from_embeddings(QUERY, DOCS, labels)
    # row 0: 2 labelled slots, 1 in-batch negative (d2) -> weight 1/2; row 1: 1 labelled, 2 negatives -> 2
    row0 = 0.5 * (bce(0.2, 1.0) + bce(-3.0, 0.25)) + bce(-1.0, 0.0)
    row1 = bce(0.6, 0.0) + bce(-1.0, 0.0) + 2 * bce(1.0, 0.5)
    assert loss.item() == pytest.approx((row0 + row1) / (0.5 * 2 + 1 + 1 + 1 + 2), abs=1e-6)


def test_duplicate_document_is_masked_not_a_negative() -> None:
    keys = torch.tensor([[10, 11], [12, 10]])  # row 1's hard negative is row 0's document_0
    loss = hand_loss().compute_loss_from_embeddings(QUERY, DOCS, LABELS, keys)
    row0 = bce(0.2, 1.0) + bce(-3.0, 0.25) + bce(-1.0, 0.0)        # h2 (a copy of d1) left out
    row1 = bce(-1.0, 0.0) + bce(1.0, 0.5) + bce(-2.2, 0.0)         # d1 (a copy of its own h2) left out
    assert loss.item() == pytest.approx((row0 + row1) / 6, abs=1e-6)


def test_empty_slot_is_ignored() -> None:
    labels = LABELS.clone()
    labels[1, 1] = -1.0
    loss = hand_loss().compute_loss_from_embeddings(QUERY, DOCS, labels)
    row0 = bce(0.2, 1.0) + bce(-3.0, 0.25) + bce(-1.0, 0.0)
    row1 = bce(0.6, 0.0) + bce(-1.0, 0.0) + bce(1.0, 0.5)
    assert loss.item() == pytest.approx((row0 + row1) / 6, abs=1e-6)
    # Whatever the empty slot's embedding, the loss and every other gradient are unchanged; its own gradient is 0.
    docs = DOCS.clone().requires_grad_(True)
    other = DOCS.clone()
    other[1, 1] = torch.tensor([123.0, -7.0])
    other.requires_grad_(True)
    first = hand_loss().compute_loss_from_embeddings(QUERY, docs, labels)
    second = hand_loss().compute_loss_from_embeddings(QUERY, other, labels)
    first.backward()
    second.backward()
    assert first.item() == pytest.approx(second.item(), abs=1e-12)
    assert torch.equal(docs.grad[1, 1], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(docs.grad, other.grad)


def test_graded_target_is_the_optimum() -> None:
    """One pair, no in-batch negative: d loss / d z = sigmoid(z) - t vanishes at z = logit(0.75) = ln 3."""
    loss = BiXSELoss(scale=1.0, learnable_bias=False, similarity="dot")
    for z, sign in ((math.log(3.0), 0), (0.5, -1), (2.0, 1)):
        doc = torch.tensor([[[z]]], dtype=torch.float64, requires_grad=True)
        value = loss.compute_loss_from_embeddings(torch.ones(1, 1, dtype=torch.float64), doc,
                                                  torch.tensor([[0.75]], dtype=torch.float64))
        value.backward()
        assert doc.grad.item() == pytest.approx(1 / (1 + math.exp(-z)) - 0.75, abs=1e-6)
        assert (doc.grad.item() > 1e-6) - (doc.grad.item() < -1e-6) == sign  # losses compute in float32


def test_raising_the_positive_score_lowers_the_loss() -> None:
    """Dot similarity with one-hot queries: d1 + a * q1 raises only s(q1, d1), by a."""
    generator = torch.Generator().manual_seed(1)
    query = torch.eye(3, 4, dtype=torch.float64)
    docs = 0.1 * torch.randn(3, 2, 4, generator=generator, dtype=torch.float64)
    labels = torch.tensor([[1.0, 0.0], [0.75, 0.25], [1.0, 0.0]], dtype=torch.float64)
    shift = torch.zeros((), dtype=torch.float64, requires_grad=True)
    moved = docs.clone()
    moved[0, 0] = docs[0, 0] + shift * query[0]
    value = BiXSELoss(scale=1.0, similarity="dot").compute_loss_from_embeddings(query, moved, labels)
    (grad,) = torch.autograd.grad(value, shift)
    assert grad.item() < 0


@pytest.mark.parametrize("similarity, scale, magnitude", [("cosine", 1e4, 1.0), ("dot", 20.0, 1e3)])
def test_stable_at_huge_logits(similarity: str, scale: float, magnitude: float) -> None:
    generator = torch.Generator().manual_seed(2)
    query = (magnitude * torch.randn(4, 16, generator=generator)).requires_grad_(True)
    docs = (magnitude * torch.randn(4, 2, 16, generator=generator)).requires_grad_(True)
    labels = torch.tensor([[1.0, 0.0], [0.5, 0.25], [1.0, -1.0], [0.75, 0.0]])
    value = BiXSELoss(scale=scale, similarity=similarity).compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert torch.isfinite(query.grad).all() and torch.isfinite(docs.grad).all()


def test_bias_is_a_trainable_parameter_unless_fixed() -> None:
    loss = BiXSELoss()
    value = loss.compute_loss_from_embeddings(QUERY, DOCS, LABELS)
    value.backward()
    assert [name for name, p in loss.named_parameters() if p.requires_grad] == ["bias"]
    # With 3 negatives per labelled pair at bias 0, the bias gradient pushes it down (like SigLIP's prior).
    assert loss.bias.grad.item() > 0
    fixed = BiXSELoss(bias=-2.0, learnable_bias=False)
    assert not any(p.requires_grad for p in fixed.parameters())
    assert fixed.get_config_dict()["bias"] == -2.0 and fixed.get_config_dict()["learnable_bias"] is False


def test_config_and_validation() -> None:
    assert get_loss("bixse").get_config_dict() == {
        "scale": 20.0, "bias": 0.0, "learnable_bias": True, "similarity": "cosine",
        "positive_weight": 1.0, "gather_across_devices": True,
    }
    for bad in ({"scale": 0.0}, {"positive_weight": -1.0}, {"positive_weight": "heavy"}, {"similarity": "l2"}):
        with pytest.raises(InputError):
            BiXSELoss(**bad)
