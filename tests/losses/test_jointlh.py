"""JointLH (arXiv 2602.12727): sum over positives of -log softmax over every valid passage of the batch."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.errors import InputError
from bixse.losses import LOSSES, get_loss
from multi_positive_case import LABELS, SCORES, one_hot_batch


def lse(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def jointlh_row(scores, positives, candidates, weights=None):
    weights = weights or [1.0] * len(positives)
    log_z = lse([scores[c] for c in candidates])
    return sum(w * (log_z - scores[p]) for w, p in zip(weights, positives))


def test_registered_with_layout_and_config():
    loss = get_loss("jointlh")
    assert LOSSES["jointlh"] is type(loss) and loss.layout == "multi_positive"
    assert "2602.12727" in loss.citation
    assert loss.get_config_dict() == {"positive_threshold": 0.5, "similarity": "dot", "scale": 1.0,
                                      "grade_weighting": False, "normalize_by_positives": False}


def test_value_matches_hand_formula():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    everything = range(6)
    expected = (jointlh_row(SCORES[0], [0, 1], everything) + jointlh_row(SCORES[1], [3, 5], everything)) / 2
    # row 0: 2 * log(e^2 + e^1 + e^.5 + e^-1 + e^0 + e^1.5) - (2 + 1) = 2.73644; row 1: 2.01999
    assert expected == pytest.approx((2.7364372 + 2.0199916) / 2, abs=1e-7)
    value = get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_normalize_by_positives_and_grade_weighting():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    everything = range(6)
    normalized = (jointlh_row(SCORES[0], [0, 1], everything) / 2
                  + jointlh_row(SCORES[1], [3, 5], everything) / 2) / 2
    loss = get_loss("jointlh", normalize_by_positives=True)
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(normalized, abs=1e-10)
    weighted = (jointlh_row(SCORES[0], [0, 1], everything, [1.0, 0.75]) / 1.75
                + jointlh_row(SCORES[1], [3, 5], everything, [1.0, 0.5]) / 1.5) / 2
    loss = get_loss("jointlh", normalize_by_positives=True, grade_weighting=True)
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(weighted, abs=1e-10)


def test_scale_multiplies_scores_and_threshold_selects_positives():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    scaled = [[3 * s for s in row] for row in SCORES]
    # threshold 0.8 keeps only the label-1 slots (columns 0 and 3) as positives
    expected = (jointlh_row(scaled[0], [0], range(6)) + jointlh_row(scaled[1], [3], range(6))) / 2
    loss = get_loss("jointlh", scale=3.0, positive_threshold=0.8)
    assert loss.compute_loss_from_embeddings(query, docs, labels).item() == pytest.approx(expected, abs=1e-10)


def test_gradient_matches_formula_and_raising_a_weak_positive_lowers_the_loss():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels).backward()
    # d loss / d s_j = (|P| * softmax_j - [j in P]) / rows: each positive is pulled up by 1 and every
    # candidate, the positives too, pushed down by |P| * softmax_j. A positive already holding more
    # than 1/|P| of the mass is pushed down: JointLH spreads the mass over the positives (the paper's point).
    for row, positives in ((0, {0, 1}), (1, {3, 5})):
        z = sum(math.exp(s) for s in SCORES[row])
        for col in range(6):
            expected = (2 * math.exp(SCORES[row][col]) / z - (col in positives)) / 2
            assert query.grad[row, col].item() == pytest.approx(expected, abs=1e-10)
    assert query.grad[0, 1] < 0 and query.grad[1, 5] < 0  # the weaker positives are raised
    assert (query.grad[0, [2, 3, 4, 5]] > 0).all() and (query.grad[1, [0, 1, 2, 4]] > 0).all()
    before = get_loss("jointlh").compute_loss_from_embeddings(query.detach(), docs, labels)
    raised = query.detach().clone()
    raised[0, 1] += 0.5
    assert get_loss("jointlh").compute_loss_from_embeddings(raised, docs, labels) < before


def test_gradient_of_a_single_positive_always_raises_it():
    query, docs, labels = one_hot_batch(SCORES, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels).backward()
    assert query.grad[0, 0] < 0 and query.grad[1, 5] < 0


def test_huge_logits_stay_finite():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    loss = get_loss("jointlh", scale=1e4)
    value = loss.compute_loss_from_embeddings(query.float(), docs.float(), labels.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()
    # row 0: 2 * lse - (s0 + s1) ~ 2 * 2e4 - 3e4; row 1: 2 * 3e4 - 5e4
    assert value.item() == pytest.approx((1e4 + 1e4) / 2, rel=1e-4)


def test_duplicate_document_is_not_a_negative():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 1] = keys[0, 0]  # row 1's slot 1 (column 4) carries row 0's positive (column 0)
    value = get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels, keys)
    expected = (jointlh_row(SCORES[0], [0, 1], [0, 1, 2, 3, 5])
                + jointlh_row(SCORES[1], [3, 5], [1, 2, 3, 4, 5])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_empty_slots_are_ignored():
    scores = [row[:] for row in SCORES]
    scores[1][4] = 50.0  # an empty slot's embedding, however high it scores, is not a candidate
    labels = [LABELS[0], [1.0, -1.0, 0.5]]
    query, docs, label = one_hot_batch(scores, labels)
    value = get_loss("jointlh").compute_loss_from_embeddings(query, docs, label)
    kept = [0, 1, 2, 3, 5]
    expected = (jointlh_row(scores[0], [0, 1], kept) + jointlh_row(scores[1], [3, 5], kept)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_rows_without_positive_contribute_nothing():
    query, docs, labels = one_hot_batch(SCORES, [LABELS[0], [0.25, 0.0, -1.0]])
    value = get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == pytest.approx(jointlh_row(SCORES[0], [0, 1], [0, 1, 2, 3, 4]), abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all()
    # a batch without any positive: zero loss, zero gradient, no NaN
    query, docs, labels = one_hot_batch(SCORES, [[0.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
    value = get_loss("jointlh").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == 0.0 and (query.grad == 0).all()


def test_bad_parameters_raise_input_error():
    with pytest.raises(InputError, match="positive_threshold"):
        get_loss("jointlh", positive_threshold=0.0)
    with pytest.raises(InputError, match="similarity"):
        get_loss("jointlh", similarity="l2")
