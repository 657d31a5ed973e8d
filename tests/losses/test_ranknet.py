"""RankNet (Burges et al. 2005): mean over ordered pairs (label_k > label_l) of softplus(s_l - s_k)."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.losses import LOSSES, get_loss

# Own-slot scores s[i][k] of two queries over three candidates, and their graded labels.
SCORES = [[2.0, 0.5, 1.0],
          [0.0, 1.5, -1.0]]
LABELS = [[1.0, 0.5, 0.0],      # pairs (0,1), (0,2), (1,2)
          [0.25, 0.75, 0.25]]   # pairs (1,0), (1,2); the tie (0,2) is skipped


def own_slot_batch(scores, labels):
    """Query i is its score row and its documents the unit vectors, so dot(q_i, d_ik) = scores[i][k]."""
    query = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    label = torch.tensor(labels, dtype=torch.float64)
    rows, slots = label.shape
    docs = torch.eye(slots, dtype=torch.float64).expand(rows, slots, slots)
    return query, docs, label


def softplus(x):
    return math.log1p(math.exp(x))


def pair_losses(scores, labels, weighted=False):
    terms = []
    for row_scores, row_labels in zip(scores, labels):
        for k, l in ((k, l) for k in range(3) for l in range(3)):
            if row_labels[k] != -1 and row_labels[l] != -1 and row_labels[k] > row_labels[l]:
                weight = row_labels[k] - row_labels[l] if weighted else 1.0
                terms.append(weight * softplus(row_scores[l] - row_scores[k]))
    return terms


def test_registered_with_layout_and_config():
    loss = get_loss("ranknet")
    assert LOSSES["ranknet"] is type(loss) and loss.layout == "scored_list"
    assert "Learning to Rank using Gradient Descent" in loss.citation
    assert loss.get_config_dict() == {"similarity": "dot", "scale": 1.0, "weight_by_label_gap": False}


def test_value_matches_hand_formula():
    query, docs, labels = own_slot_batch(SCORES, LABELS)
    expected = (softplus(-1.5) + softplus(-1.0) + softplus(0.5) + softplus(-1.5) + softplus(-2.5)) / 5
    assert sum(pair_losses(SCORES, LABELS)) / 5 == pytest.approx(expected)
    value = get_loss("ranknet").compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_scale_and_label_gap_weighting():
    query, docs, labels = own_slot_batch(SCORES, LABELS)
    scaled = [[2 * s for s in row] for row in SCORES]
    expected = sum(pair_losses(scaled, LABELS, weighted=True)) / 5
    loss = get_loss("ranknet", scale=2.0, weight_by_label_gap=True)
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(expected, abs=1e-10)


def test_gradient_raises_the_better_document():
    query, docs, labels = own_slot_batch(SCORES, LABELS)
    get_loss("ranknet").compute_loss_from_embeddings(query, docs, labels).backward()
    # d/ds_k of softplus(s_l - s_k) = -sigmoid(s_l - s_k): the top-labelled slot of each row is raised
    assert query.grad[0, 0] < 0 and query.grad[1, 1] < 0
    assert query.grad[0, 2] > 0 and query.grad[1, 2] > 0
    pulls = [1 / (1 + math.exp(-x)) for x in (-1.5, -1.0)]  # sigmoid(s_l - s_k) of pairs (0,1), (0,2)
    assert query.grad[0, 0].item() == pytest.approx(-sum(pulls) / 5, abs=1e-10)


def test_huge_logits_stay_finite():
    query, docs, labels = own_slot_batch(SCORES, LABELS)
    value = get_loss("ranknet", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                        labels.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()
    assert value.item() == pytest.approx(0.5e4 / 5, rel=1e-5)  # only pair (1,2) of row 0 is misordered


def test_in_batch_duplicates_change_nothing():
    # only a row's own slots are compared, so another row carrying the same document is irrelevant
    query, docs, labels = own_slot_batch(SCORES, LABELS)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 0] = keys[0, 0]
    loss = get_loss("ranknet")
    assert loss.compute_loss_from_embeddings(query, docs, labels, keys).item() == pytest.approx(
        loss.compute_loss_from_embeddings(query, docs, labels).item(), abs=0)


def test_empty_slots_are_ignored():
    scores = [[2.0, 0.5, 50.0], [0.0, 1.5, -1.0]]
    labels = [[1.0, 0.5, -1.0], [0.25, 0.75, -1.0]]  # -1 would otherwise rank below every label
    query, docs, label = own_slot_batch(scores, labels)
    value = get_loss("ranknet").compute_loss_from_embeddings(query, docs, label)
    assert value.item() == pytest.approx((softplus(-1.5) + softplus(-1.5)) / 2, abs=1e-10)
    # a batch without any ordered pair: zero loss and gradient
    query, docs, label = own_slot_batch(scores, [[0.5, 0.5, -1.0], [1.0, -1.0, -1.0]])
    value = get_loss("ranknet").compute_loss_from_embeddings(query, docs, label)
    value.backward()
    assert value.item() == 0.0 and (query.grad == 0).all()
