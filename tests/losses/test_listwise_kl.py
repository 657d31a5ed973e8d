"""Listwise KL distillation: KL(softmax(t / T) || softmax(scale * s)) over a query's own candidates."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss

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


def softmax(values):
    total = sum(math.exp(v) for v in values)
    return [math.exp(v) / total for v in values]


def kl_row(student, teacher):
    p, q = softmax(teacher), softmax(student)
    return sum(pk * math.log(pk / qk) for pk, qk in zip(p, q))


def test_registered_with_layout_and_config():
    loss = get_loss("listwise_kl")
    assert LOSSES["listwise_kl"] is type(loss) and loss.layout == "scored_list"
    assert "2010.11386" in loss.citation
    assert loss.get_config_dict() == {"similarity": "dot", "scale": 1.0, "teacher_temperature": 1.0}


def test_value_matches_hand_formula():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    expected = (kl_row(SCORES[0], TEACHER[0]) + kl_row(SCORES[1], TEACHER[1])) / 2
    # two candidates, scores (1, 0), uniform teacher: log(1 + e) - 1/2 - log 2 by hand
    assert kl_row([1.0, 0.0], [0.0, 0.0]) == pytest.approx(math.log(1 + math.e) - 0.5 - math.log(2))
    value = get_loss("listwise_kl").compute_loss_from_embeddings(query, docs, teacher)
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_temperatures_scale_each_side():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    loss = get_loss("listwise_kl", scale=3.0, teacher_temperature=0.5)
    expected = sum(kl_row([3 * s for s in student], [t / 0.5 for t in row])
                   for student, row in zip(SCORES, TEACHER)) / 2
    assert loss.compute_loss_from_embeddings(query, docs, teacher).item() == pytest.approx(expected, abs=1e-10)


def test_matches_sentence_transformers_distill_kl_div():
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(5, 16, generator=generator)
    docs = torch.randn(5, 4, 16, generator=generator)
    teacher = torch.randn(5, 4, generator=generator) * 3
    columns = [query, *docs.unbind(dim=1)]
    ours = get_loss("listwise_kl").compute_loss_from_embeddings(query, docs, teacher)
    theirs = DistillKLDivLoss(None).compute_loss_from_embeddings(columns, teacher)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    # their student temperature T is our scale 1/T, without their T^2 rescaling
    ours = get_loss("listwise_kl", scale=2.0, teacher_temperature=4.0).compute_loss_from_embeddings(
        query, docs, teacher)
    theirs = DistillKLDivLoss(None, student_temperature=0.5, teacher_temperature=4.0)
    theirs = theirs.compute_loss_from_embeddings(columns, teacher)
    assert ours.item() == pytest.approx(theirs.item() / 0.5 ** 2, rel=1e-6)


def test_gradient_raises_the_underweighted_candidate():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    get_loss("listwise_kl").compute_loss_from_embeddings(query, docs, teacher).backward()
    # d KL / d s_k = (q_k - p_k) / rows
    for row in range(2):
        p, q = softmax(TEACHER[row]), softmax(SCORES[row])
        for k in range(3):
            assert query.grad[row, k].item() == pytest.approx((q[k] - p[k]) / 2, abs=1e-10)
    assert query.grad[1, 0] < 0  # the teacher likes slot 0 of row 1 more than the student does


def test_huge_logits_stay_finite():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    value = get_loss("listwise_kl", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                            teacher.float() * 1e4)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()


def test_in_batch_duplicates_change_nothing():
    query, docs, teacher = own_slot_batch(SCORES, TEACHER)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 0] = keys[0, 0]
    loss = get_loss("listwise_kl")
    assert loss.compute_loss_from_embeddings(query, docs, teacher, keys).item() == \
        loss.compute_loss_from_embeddings(query, docs, teacher).item()


def test_empty_slots_and_single_candidate_lists_are_ignored():
    # row 0 loses slot 2; row 1 keeps a single candidate, whose softmax is constant
    query, docs, teacher = own_slot_batch([[2.0, 0.5, 99.0], [99.0, 1.5, -1.0]],
                                          [[0.9, 0.4, -1.0], [-1.0, 0.8, -1.0]])
    value = get_loss("listwise_kl").compute_loss_from_embeddings(query, docs, teacher)
    value.backward()
    assert value.item() == pytest.approx(kl_row([2.0, 0.5], [0.9, 0.4]), abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all() and query.grad[0, 2] == 0


def test_teacher_minus_infinity_rules_a_candidate_out():
    query, docs, teacher = own_slot_batch(SCORES, [[0.9, 0.4, float("-inf")], TEACHER[1]])
    value = get_loss("listwise_kl").compute_loss_from_embeddings(query, docs, teacher)
    value.backward()
    p = softmax([0.9, 0.4])
    q = softmax(SCORES[0])
    expected = (sum(pk * math.log(pk / qk) for pk, qk in zip(p, q)) + kl_row(SCORES[1], TEACHER[1])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10) and torch.isfinite(query.grad).all()
