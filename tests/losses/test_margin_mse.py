"""Margin-MSE (Hofstaetter et al. 2020, arXiv 2010.02666): MSE of student vs teacher margins s_0 - s_k."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import MarginMSELoss as STMarginMSELoss

from bixse.losses import LOSSES, get_loss

# Own-slot student scores s[i][k] of two queries over three candidates, and the teacher's scores.
SCORES = [[2.0, 0.5, 1.0],
          [0.0, 1.5, -1.0]]
TEACHER = [[0.9, 0.4, 0.1],
           [0.2, 0.8, -0.5]]


def own_slot_batch(scores, labels):
    """Query i is its score row and its documents the unit vectors, so dot(q_i, d_ik) = scores[i][k]."""
    query = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    label = torch.tensor(labels, dtype=torch.float64)
    rows, slots = label.shape
    docs = torch.eye(slots, dtype=torch.float64).expand(rows, slots, slots)
    return query, docs, label


def test_registered_with_layout_and_config():
    loss = get_loss("margin_mse")
    assert LOSSES["margin_mse"] is type(loss) and loss.layout == "scored_list"
    assert "2010.02666" in loss.citation
    assert loss.get_config_dict() == {"similarity": "dot", "scale": 1.0}


def test_value_matches_hand_formula():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    # student margins (1.5, 1.0), (-1.5, 1.0); teacher margins (0.5, 0.8), (-0.6, 0.7)
    expected = (1.0 ** 2 + 0.2 ** 2 + 0.9 ** 2 + 0.3 ** 2) / 4
    value = get_loss("margin_mse").compute_loss_from_embeddings(query, docs, teacher)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_matches_sentence_transformers_margin_mse():
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(5, 16, generator=generator)
    docs = torch.randn(5, 4, 16, generator=generator)
    teacher = torch.rand(5, 4, generator=generator) * 10
    ours = get_loss("margin_mse").compute_loss_from_embeddings(query, docs, teacher)
    columns = [query, *docs.unbind(dim=1)]
    # sentence-transformers reads either the M scores or the M - 1 margins t_0 - t_k as labels
    theirs_scores = STMarginMSELoss(None).compute_loss_from_embeddings(columns, teacher)
    theirs_margins = STMarginMSELoss(None).compute_loss_from_embeddings(columns, teacher[:, :1] - teacher[:, 1:])
    assert ours.item() == pytest.approx(theirs_scores.item(), rel=1e-6)
    assert ours.item() == pytest.approx(theirs_margins.item(), rel=1e-6)


def test_gradient_moves_the_margin_towards_the_teacher():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    get_loss("margin_mse").compute_loss_from_embeddings(query, docs, teacher).backward()
    # row 1's student margin to slot 1 (-1.5) is below the teacher's (-0.6) and to slot 2 (1.0)
    # above (0.7): d/ds_0 = 2 * ((-0.9) + (0.3)) / 4 < 0, so raising the anchor lowers the loss
    assert query.grad[1, 0].item() == pytest.approx(2 * (-0.9 + 0.3) / 4, abs=1e-10)
    assert query.grad[1, 1].item() == pytest.approx(2 * 0.9 / 4, abs=1e-10)
    # row 0's margins are both too wide: the anchor is pushed down
    assert query.grad[0, 0].item() == pytest.approx(2 * (1.0 + 0.2) / 4, abs=1e-10)


def test_huge_logits_stay_finite():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    value = get_loss("margin_mse", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                           teacher.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()


def test_in_batch_duplicates_change_nothing():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 0] = keys[0, 0]
    loss = get_loss("margin_mse")
    assert loss.compute_loss_from_embeddings(query, docs, teacher, keys).item() == \
        loss.compute_loss_from_embeddings(query, docs, teacher).item()


def test_empty_slots_are_ignored():
    # row 0 loses slot 2; row 1 loses its anchor, so none of its margins exists
    query, docs, teacher = own_slot_batch([[2.0, 0.5, 99.0], [99.0, 1.5, -1.0]],
                                          [[0.9, 0.4, -1.0], [-1.0, 0.8, -0.5]])
    value = get_loss("margin_mse").compute_loss_from_embeddings(query, docs, teacher)
    value.backward()
    assert value.item() == pytest.approx(1.0, abs=1e-10)  # (1.5 - 0.5)^2 over one margin
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all() and query.grad[0, 2] == 0
