"""LSEPair (arXiv 2602.12727): log(1 + sum over positive p, negative n of exp(s_n - s_p))."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.losses import LOSSES, get_loss
from multi_positive_case import LABELS, SCORES, one_hot_batch


def lsepair_row(scores, positives, negatives, weights=None):
    weights = weights or [1.0] * len(positives)
    return math.log(1 + sum(w * math.exp(scores[n] - scores[p])
                            for w, p in zip(weights, positives) for n in negatives))


def test_registered_with_layout_and_config():
    loss = get_loss("lsepair")
    assert LOSSES["lsepair"] is type(loss) and loss.layout == "multi_positive"
    assert "2602.12727" in loss.citation
    assert loss.get_config_dict() == {"positive_threshold": 0.5, "similarity": "dot", "scale": 1.0,
                                      "grade_weighting": False, "normalize_by_positives": False}


def test_value_matches_hand_formula():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    # N of row 0 = its own non-positive slot 2 and all of row 1's slots, row 1's positives included
    expected = (lsepair_row(SCORES[0], [0, 1], [2, 3, 4, 5]) + lsepair_row(SCORES[1], [3, 5], [0, 1, 2, 4])) / 2
    assert expected == pytest.approx(1.1538696, abs=1e-7)
    value = get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_normalize_by_positives_and_grade_weighting():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    loss = get_loss("lsepair", normalize_by_positives=True, grade_weighting=True)
    expected = (lsepair_row(SCORES[0], [0, 1], [2, 3, 4, 5], [1.0, 0.75]) / 1.75
                + lsepair_row(SCORES[1], [3, 5], [0, 1, 2, 4], [1.0, 0.5]) / 1.5) / 2
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(expected, abs=1e-10)


def test_gradient_raises_positives_and_lowers_negatives():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels).backward()
    assert (query.grad[0, [0, 1]] < 0).all() and (query.grad[1, [3, 5]] < 0).all()
    assert (query.grad[0, [2, 3, 4, 5]] > 0).all() and (query.grad[1, [0, 1, 2, 4]] > 0).all()
    # the pairs' gradients cancel: sum_j d loss / d s_j = 0 (the loss depends on differences only)
    assert query.grad.sum(dim=1).abs().max().item() < 1e-12


def test_huge_logits_stay_finite():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    value = get_loss("lsepair", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                        labels.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()
    # row 0's worst pair: negative 1.5 over positive 1.0 -> 0.5e4; row 1's: 1.0 over 2.0 -> none
    assert value.item() == pytest.approx(0.5e4 / 2, rel=1e-4)


def test_duplicate_document_is_not_a_negative():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 1] = keys[0, 0]  # row 1's slot 1 (column 4) carries row 0's positive (column 0)
    value = get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels, keys)
    expected = (lsepair_row(SCORES[0], [0, 1], [2, 3, 5]) + lsepair_row(SCORES[1], [3, 5], [1, 2, 4])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_empty_slots_are_ignored():
    scores = [row[:] for row in SCORES]
    scores[1][4] = 50.0
    query, docs, labels = one_hot_batch(scores, [LABELS[0], [1.0, -1.0, 0.5]])
    value = get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels)
    expected = (lsepair_row(scores[0], [0, 1], [2, 3, 5]) + lsepair_row(scores[1], [3, 5], [0, 1, 2])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_rows_without_positive_or_negative_contribute_nothing():
    # row 1 has no positive; a lone query whose candidates are all positive has no pair at all
    query, docs, labels = one_hot_batch(SCORES, [LABELS[0], [0.25, 0.0, -1.0]])
    value = get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == pytest.approx(lsepair_row(SCORES[0], [0, 1], [2, 3, 4]), abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all()
    query, docs, labels = one_hot_batch([[2.0, 1.0]], [[1.0, 0.5]])
    value = get_loss("lsepair").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == 0.0 and (query.grad == 0).all()
