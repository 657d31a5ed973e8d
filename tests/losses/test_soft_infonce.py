"""Soft-InfoNCE (arXiv 2508.06781): -sum_j t_j log softmax(s)_j with t = a row's graded scores / their sum."""

from __future__ import annotations

import math

import pytest
import torch

from bixse.errors import InputError
from bixse.losses import LOSSES, get_loss
from bixse.losses.infonce import InfoNCELoss
from bixse.losses.soft_infonce import SoftInfoNCELoss
from multi_positive_case import SCORES, one_hot_batch

# Row 0's second slot (0.25) is below the default positive threshold and still a target.
GRADED = [[1.0, 0.25, 0.0],   # targets 0.8, 0.2 on columns 0, 1
          [0.5, 0.0, 0.5]]    # targets 0.5, 0.5 on columns 3, 5


def soft_row(scores, targets, candidates):
    """-sum_j t_j * log(e^s_j / sum over candidates c of e^s_c), ``targets`` as {column: t}."""
    log_normaliser = math.log(sum(math.exp(scores[c]) for c in candidates))
    return -sum(t * (scores[j] - log_normaliser) for j, t in targets.items())


def dot_loss(**params):
    """Scores = the dot products of ``one_hot_batch``, unscaled, so the hand formula reads them directly."""
    return get_loss("soft_infonce", similarity="dot", scale=1.0, **params)


def test_registered_with_layout_and_config():
    loss = get_loss("soft_infonce")
    assert LOSSES["soft_infonce"] is SoftInfoNCELoss and loss.layout == "multi_positive"
    assert "2508.06781" in loss.citation
    assert loss.get_config_dict() == {"positive_threshold": 0.5, "scale": 20.0, "similarity": "cosine",
                                      "gather_across_devices": True}


def test_value_matches_hand_formula():
    query, docs, labels = one_hot_batch(SCORES, GRADED)
    everything = range(6)
    expected = (soft_row(SCORES[0], {0: 0.8, 1: 0.2}, everything)
                + soft_row(SCORES[1], {3: 0.5, 5: 0.5}, everything)) / 2
    assert expected == pytest.approx(1.0391072, abs=1e-7)
    value = dot_loss().compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(expected, abs=1e-10)
    # The threshold only decides which queries the row builder keeps; the targets use every grade.
    high = dot_loss(positive_threshold=1.0).compute_loss_from_embeddings(query, docs, labels)
    assert high.item() == pytest.approx(expected, abs=1e-10)


def test_scale_multiplies_the_cosine():
    query = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    docs = torch.tensor([[[2.0, 0.0], [1.0, 3.0**0.5]]], dtype=torch.float64)  # cosines 1 and 0.5
    labels = torch.tensor([[1.0, 0.5]], dtype=torch.float64)                     # targets 2/3, 1/3
    value = get_loss("soft_infonce").compute_loss_from_embeddings(query, docs, labels)
    assert value.item() == pytest.approx(soft_row([20.0, 10.0], {0: 2 / 3, 1: 1 / 3}, [0, 1]), abs=1e-10)


@pytest.mark.parametrize("similarity, scale", [("cosine", 20.0), ("dot", 1.0)])
def test_one_hot_targets_equal_infonce(similarity, scale):
    generator = torch.Generator().manual_seed(5)
    query = torch.randn(6, 16, generator=generator)
    docs = torch.randn(6, 3, 16, generator=generator)
    # document_0 is the positive (1), other slots hard negatives (0) or empty (-1).
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, -1.0], [1.0, -1.0, -1.0],
                           [1.0, 0.0, 0.0], [1.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    keys = torch.arange(18).reshape(6, 3)
    keys[4, 2] = keys[0, 0]  # a hard negative of row 4 is row 0's positive
    docs[4, 2] = docs[0, 0]
    values, grads = [], []
    for loss in (SoftInfoNCELoss(scale=scale, similarity=similarity),
                 InfoNCELoss(scale=scale, similarity=similarity)):
        inputs = (query.clone().requires_grad_(True), docs.clone().requires_grad_(True))
        value = loss.compute_loss_from_embeddings(*inputs, labels, keys)
        value.backward()
        values.append(value.item())
        grads.append([tensor.grad for tensor in inputs])
    assert values[0] == pytest.approx(values[1], abs=1e-6)
    for ours, infonce in zip(*grads):
        assert torch.allclose(ours, infonce, atol=1e-6)


def test_gradient_raises_the_higher_graded_document():
    # Row 0's lower-graded slot 0 (0.25) outscores its higher-graded slot 1 (1.0): 2.0 vs 1.0.
    labels = [[0.25, 1.0, 0.0], GRADED[1]]
    query, docs, label = one_hot_batch(SCORES, labels)
    dot_loss().compute_loss_from_embeddings(query, docs, label).backward()
    # One-hot documents: query.grad[i, j] = d loss / d s_ij = (softmax(s_i)_j - t_ij) / B.
    normaliser = sum(math.exp(s) for s in SCORES[0])
    targets = [0.2, 0.8, 0.0, 0.0, 0.0, 0.0]
    expected = [(math.exp(s) / normaliser - t) / 2 for s, t in zip(SCORES[0], targets)]
    assert query.grad[0].tolist() == pytest.approx(expected, abs=1e-12)
    assert query.grad[0, 1] < query.grad[0, 0]  # descent lifts s_1 above s_0's rise
    assert query.grad[0, 1] < 0 and (query.grad[0, 2:] > 0).all()


def test_row_with_zero_scores_is_left_out_of_the_mean():
    query, docs, labels = one_hot_batch(SCORES, [GRADED[0], [0.0, 0.0, -1.0]])
    value = dot_loss().compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    # Mean over the one counted row (not / 2); row 1's empty slot (column 5) is no candidate.
    expected = soft_row(SCORES[0], {0: 0.8, 1: 0.2}, range(5))
    assert expected == pytest.approx(0.7744379, abs=1e-7)
    assert value.item() == pytest.approx(expected, abs=1e-10)
    assert torch.isfinite(query.grad).all() and (query.grad[1] == 0).all()


def test_batch_without_any_grade_gives_zero():
    query, docs, labels = one_hot_batch(SCORES, [[0.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    value = dot_loss().compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert value.item() == 0.0 and (query.grad == 0).all()


def test_duplicate_document_is_not_a_candidate():
    query, docs, labels = one_hot_batch(SCORES, GRADED)
    keys = torch.arange(6).reshape(2, 3)
    keys[1, 1] = keys[0, 0]  # row 1's slot 1 (column 4) carries row 0's document_0 (column 0)
    value = dot_loss().compute_loss_from_embeddings(query, docs, labels, keys)
    # Row 0 loses column 4 (a copy of its own document); row 1 loses column 0 (a copy of its slot 1).
    expected = (soft_row(SCORES[0], {0: 0.8, 1: 0.2}, [0, 1, 2, 3, 5])
                + soft_row(SCORES[1], {3: 0.5, 5: 0.5}, [1, 2, 3, 4, 5])) / 2
    assert value.item() == pytest.approx(expected, abs=1e-10)


def test_half_precision_is_computed_in_float32():
    query, docs, labels = one_hot_batch(SCORES, GRADED)
    value = dot_loss().compute_loss_from_embeddings(query.detach().bfloat16(), docs.bfloat16(),
                                                    labels.bfloat16())
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(1.0391072, abs=1e-2)


@pytest.mark.parametrize("params, field", [
    ({"scale": 0.0}, "scale"), ({"scale": -1.0}, "scale"), ({"similarity": "l2"}, "similarity"),
    ({"positive_threshold": 0.0}, "positive_threshold"), ({"positive_threshold": 1.5}, "positive_threshold"),
])
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(InputError) as error:
        SoftInfoNCELoss(**params)
    assert error.value.field == field and field in str(error.value)
