"""Rand1LH (arXiv 2602.12727): InfoNCE with one positive per query drawn at every step."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from bixse.losses import LOSSES, get_loss
from multi_positive_case import LABELS, SCORES, one_hot_batch

POSITIVES = ([0, 1], [3, 5])


def infonce_row(scores, chosen, support):
    return math.log(sum(math.exp(scores[c]) for c in support)) - scores[chosen]


def rand1_row(row, chosen, candidates=range(6)):
    """The drawn positive against every candidate but the query's other positives."""
    support = [c for c in candidates if c == chosen or c not in POSITIVES[row]]
    return infonce_row(SCORES[row], chosen, support)


def expected_by_draw():
    return {(a, b): (rand1_row(0, a) + rand1_row(1, b)) / 2 for a, b in itertools.product(*POSITIVES)}


def draw_of(value, table):
    matches = [draw for draw, expected in table.items() if abs(value - expected) < 1e-10]
    assert len(matches) == 1, f"{value} matches none of the hand values {table}"
    return matches[0]


def test_registered_with_layout_and_config():
    loss = get_loss("rand1lh", seed=7)
    assert LOSSES["rand1lh"] is type(loss) and loss.layout == "multi_positive"
    assert "2602.12727" in loss.citation
    assert loss.get_config_dict() == {"positive_threshold": 0.5, "similarity": "dot", "scale": 1.0,
                                      "grade_weighting": False, "seed": 7}


def test_value_is_infonce_of_the_drawn_positive_and_every_draw_occurs():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    table = expected_by_draw()
    # e.g. draw (0, 3): row 0 = log(e^2 + e^.5 + e^-1 + e^0 + e^1.5) - 2, its other positive (column 1) left out
    assert table[(0, 3)] == pytest.approx((math.log(sum(math.exp(s) for s in (2, .5, -1, 0, 1.5))) - 2
                                           + math.log(sum(math.exp(s) for s in (0, -.5, 1, 3, .5))) - 3) / 2)
    loss = get_loss("rand1lh", seed=0)
    draws = [draw_of(loss.compute_loss_from_embeddings(query, docs, labels).item(), table) for _ in range(40)]
    assert set(draws) == set(table)


def test_draws_are_reproducible_per_seed():
    query, docs, labels = one_hot_batch(SCORES, LABELS)

    def run(seed):
        loss = get_loss("rand1lh", seed=seed)
        return [loss.compute_loss_from_embeddings(query, docs, labels).item() for _ in range(20)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_resumed_loss_draws_what_an_uninterrupted_one_would():
    """The generator is checkpointed with the loss (loss_state.pt), not restarted from the seed."""
    from bixse.training.trainer import loss_own_state

    query, docs, labels = one_hot_batch(SCORES, LABELS)
    uninterrupted = get_loss("rand1lh", seed=3)
    values = [uninterrupted.compute_loss_from_embeddings(query, docs, labels).item() for _ in range(20)]
    before_kill = get_loss("rand1lh", seed=3)
    for _ in range(10):
        before_kill.compute_loss_from_embeddings(query, docs, labels)
    resumed = get_loss("rand1lh", seed=3)
    resumed.load_state_dict(loss_own_state(before_kill), strict=False)  # as BixseTrainer resumes
    assert [resumed.compute_loss_from_embeddings(query, docs, labels).item() for _ in range(10)] == values[10:]


def test_grade_weighting_draws_in_proportion_to_the_label():
    query, docs, labels = one_hot_batch(SCORES, LABELS)  # row 1: labels 1.0 (column 3) and 0.5 (column 5)
    table = expected_by_draw()

    def share_of_column_3(grade_weighting):
        loss = get_loss("rand1lh", seed=0, grade_weighting=grade_weighting)
        values = [loss.compute_loss_from_embeddings(query, docs, labels).item() for _ in range(600)]
        draws = [draw_of(value, table) for value in values]
        return sum(b == 3 for _, b in draws) / len(draws)

    assert share_of_column_3(False) == pytest.approx(1 / 2, abs=0.06)
    assert share_of_column_3(True) == pytest.approx(2 / 3, abs=0.06)


def test_gradient_raises_the_drawn_positive_and_ignores_the_other():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    value = get_loss("rand1lh", seed=1).compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    chosen = draw_of(value.item(), expected_by_draw())[0]
    other = 1 - chosen
    assert query.grad[0, chosen] < 0
    assert query.grad[0, other] == 0  # left out of the softmax: neither pushed nor pulled
    assert (query.grad[0, [2, 3, 4, 5]] > 0).all()


def test_huge_logits_stay_finite():
    query, docs, labels = one_hot_batch(SCORES, LABELS)
    value = get_loss("rand1lh", scale=1e4).compute_loss_from_embeddings(query.float(), docs.float(),
                                                                        labels.float())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(query.grad).all()


def test_duplicate_document_is_not_a_negative():
    # single positives make the draw certain; row 1's slot 1 (column 4) carries row 0's positive (column 0)
    query, docs, labels = one_hot_batch(SCORES, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 1] = keys[0, 0]
    value = get_loss("rand1lh").compute_loss_from_embeddings(query, docs, labels, keys)
    expected = (infonce_row(SCORES[0], 0, [0, 1, 2, 3, 5]) + infonce_row(SCORES[1], 3, [1, 2, 3, 4, 5])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_empty_slots_and_rows_without_positive_are_ignored():
    scores = [row[:] for row in SCORES]
    scores[0][2] = 50.0  # an empty slot, however high it scores, is not a candidate
    query, docs, labels = one_hot_batch(scores, [[1.0, 0.0, -1.0], [0.25, 0.0, 0.0]])
    value = get_loss("rand1lh").compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == pytest.approx(infonce_row(scores[0], 0, [0, 1, 3, 4, 5]), abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all()
