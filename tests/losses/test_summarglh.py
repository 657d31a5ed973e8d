"""SumMargLH (arXiv 2602.12727): -log of the softmax mass the batch puts on a query's positives."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.losses import LOSSES, get_loss
from multi_positive_case import LABELS, SCORES, one_hot_batch


def summarg_row(scores, positives, candidates, weights=None):
    weights = weights or [1.0] * len(positives)
    mass = sum(w * math.exp(scores[p]) for w, p in zip(weights, positives))
    return -math.log(mass / sum(math.exp(scores[c]) for c in candidates))


def test_registered_with_layout_and_config():
    loss = get_loss("summarglh")
    assert LOSSES["summarglh"] is type(loss) and loss.layout == "multi_positive"
    assert "2602.12727" in loss.citation
    assert loss.get_config_dict() == {"positive_threshold": 0.5, "similarity": "dot", "scale": 1.0,
                                      "grade_weighting": False}


def test_value_matches_hand_formula():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    expected = (summarg_row(SCORES[0], [0, 1], range(6)) + summarg_row(SCORES[1], [3, 5], range(6))) / 2
    # row 0: -log((e^2 + e^1) / (e^2 + e^1 + e^.5 + e^-1 + e^0 + e^1.5)); the mean over both rows:
    assert expected == pytest.approx(0.3758455, abs=1e-7)
    value = get_loss("summarglh").compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_grade_weighting_weights_the_positive_mass():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    expected = (summarg_row(SCORES[0], [0, 1], range(6), [1.0, 0.75])
                + summarg_row(SCORES[1], [3, 5], range(6), [1.0, 0.5])) / 2
    loss = get_loss("summarglh", grade_weighting=True)
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(expected, abs=1e-10)


def test_gradient_raises_every_positive():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    get_loss("summarglh").compute_loss_from_embeddings(query, docs, labels).backward()
    # d loss / d s_j = (softmax over C of j - [j in P] softmax over P of j) / rows
    for row, positives in ((0, [0, 1]), (1, [3, 5])):
        z = sum(math.exp(s) for s in SCORES[row])
        z_pos = sum(math.exp(SCORES[row][p]) for p in positives)
        for col in range(6):
            share = math.exp(SCORES[row][col])
            expected = (share / z - (share / z_pos if col in positives else 0.0)) / 2
            assert query.grad[row, col].item() == pytest.approx(expected, abs=1e-10)
            assert (query.grad[row, col] < 0) == (col in positives)


def test_huge_logits_stay_finite():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    value = get_loss("summarglh", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                          labels.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()
    assert value.item() == pytest.approx(0.0, abs=1e-6)  # the top score of each row is a positive


def test_duplicate_document_is_not_a_negative():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 1] = keys[0, 0]  # row 1's slot 1 (column 4) carries row 0's positive (column 0)
    value = get_loss("summarglh").compute_loss_from_embeddings(query, docs, labels, keys)
    expected = (summarg_row(SCORES[0], [0, 1], [0, 1, 2, 3, 5])
                + summarg_row(SCORES[1], [3, 5], [1, 2, 3, 4, 5])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_empty_slots_are_ignored():
    scores = [row[:] for row in SCORES]
    scores[1][4] = 50.0
    query, docs, labels = one_hot_batch(scores, [LABELS[0], [1.0, -1.0, 0.5]])
    value = get_loss("summarglh").compute_loss_from_embeddings(query, docs, labels)
    kept = [0, 1, 2, 3, 5]
    expected = (summarg_row(scores[0], [0, 1], kept) + summarg_row(scores[1], [3, 5], kept)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_rows_without_positive_contribute_nothing():
    query, docs, labels = one_hot_batch(SCORES, [LABELS[0], [0.25, 0.0, -1.0]])
    value = get_loss("summarglh").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == pytest.approx(summarg_row(SCORES[0], [0, 1], [0, 1, 2, 3, 4]), abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all()
