"""MW (AUC) loss: every positive score against the batch-wide pool of negative scores."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bixse.errors import InputError
from bixse.losses import LOSSES, mw_auc
from bixse.losses.mw_auc import MWAUCLoss, pairwise_softplus_sum

# Cosines (see test_bixse.py):   d1     h1     d2     h2
#                         q1    0.6    -1      0     0.8      positive of row 0: 0.6
#                         q2    0.8     0      1    -0.6      positive of row 1: 1
QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
DOCS = torch.tensor([[[0.6, 0.8], [-1.0, 0.0]], [[0.0, 1.0], [0.8, -0.6]]], dtype=torch.float64)
LABELS = torch.zeros(2, 2, dtype=torch.float64)
TAU = 0.5


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def mw(positives: list[float], negatives: list[float]) -> float:
    """-(1/B) sum_i sum_{s-} log sigmoid((s_i+ - s-) / tau), with -log sigmoid(x) = log(1 + e^-x)."""
    return sum(softplus((n - p) / TAU) for p in positives for n in negatives) / len(positives)


def test_registered_as_contrastive() -> None:
    assert LOSSES["mw_auc"] is MWAUCLoss and MWAUCLoss.layout == "contrastive"


def test_value_2x2_pairs_only() -> None:
    loss = MWAUCLoss(temperature=TAU).compute_loss_from_embeddings(QUERY, DOCS[:, :1], LABELS[:, :1])
    # S- pools both queries' negatives: s(q1, d2) = 0 and s(q2, d1) = 0.8
    expected = (softplus(-1.2) + softplus(0.4) + softplus(-2.0) + softplus(-0.4)) / 2
    assert expected == pytest.approx(mw([0.6, 1.0], [0.0, 0.8]))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_value_with_hard_negatives() -> None:
    loss = MWAUCLoss(temperature=TAU).compute_loss_from_embeddings(QUERY, DOCS, LABELS)
    assert loss.item() == pytest.approx(mw([0.6, 1.0], [-1.0, 0.0, 0.8, 0.8, 0.0, -0.6]), abs=1e-5)


def test_query_pool_and_mean_reduction() -> None:
    pairs = (QUERY, DOCS[:, :1], LABELS[:, :1])
    per_query = MWAUCLoss(temperature=TAU, negative_pool="query").compute_loss_from_embeddings(*pairs)
    assert per_query.item() == pytest.approx((softplus(-1.2) + softplus(-0.4)) / 2, abs=1e-5)
    mean = MWAUCLoss(temperature=TAU, negative_reduction="mean").compute_loss_from_embeddings(QUERY, DOCS, LABELS)
    assert mean.item() == pytest.approx(mw([0.6, 1.0], [-1.0, 0.0, 0.8, 0.8, 0.0, -0.6]) / 6, abs=1e-5)
    query_mean = MWAUCLoss(temperature=TAU, negative_pool="query", negative_reduction="mean")
    expected = (mw([0.6], [-1.0, 0.0, 0.8]) / 3 + mw([1.0], [0.8, 0.0, -0.6]) / 3) / 2
    assert query_mean.compute_loss_from_embeddings(QUERY, DOCS, LABELS).item() == pytest.approx(expected, abs=1e-5)


def test_duplicate_document_leaves_the_pool() -> None:
    keys = torch.tensor([[10, 11], [12, 10]])  # row 1's hard negative is row 0's positive
    loss = MWAUCLoss(temperature=TAU).compute_loss_from_embeddings(QUERY, DOCS, LABELS, keys)
    # s(q1, h2) and s(q2, d1) (both 0.8) are copies of a query's own document: not negatives
    assert loss.item() == pytest.approx(mw([0.6, 1.0], [-1.0, 0.0, 0.0, -0.6]), abs=1e-5)


def test_empty_slot_is_ignored() -> None:
    labels = LABELS.clone()
    labels[1, 1] = -1.0
    loss = MWAUCLoss(temperature=TAU).compute_loss_from_embeddings(QUERY, DOCS, labels)
    assert loss.item() == pytest.approx(mw([0.6, 1.0], [-1.0, 0.0, 0.8, 0.0]), abs=1e-5)


def test_row_without_positive_still_lends_its_negatives() -> None:
    labels = torch.tensor([[0.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    loss = MWAUCLoss(temperature=TAU).compute_loss_from_embeddings(QUERY, DOCS, labels)
    # Row 1 has no positive (not counted in B) but its negatives s(q2, d1), s(q2, h1), s(q2, h2) are in S-;
    # d2 is empty, so row 0's pool is h1 and h2 only.
    assert loss.item() == pytest.approx(mw([0.6], [-1.0, 0.8, 0.8, 0.0, -0.6]), abs=1e-5)


@pytest.mark.parametrize("pool", ["batch", "query"])
def test_batch_without_any_positive_gives_zero(pool: str) -> None:
    docs = DOCS.clone().requires_grad_(True)
    labels = torch.tensor([[-1.0, 0.0], [-1.0, 0.0]])
    value = MWAUCLoss(negative_pool=pool).compute_loss_from_embeddings(QUERY, docs, labels)
    value.backward()
    assert value.item() == 0.0 and torch.equal(docs.grad, torch.zeros_like(docs))


def test_chunked_pairwise_sum_matches_autograd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mw_auc, "_PAIRS_PER_CHUNK", 5)  # several chunks, a ragged last one
    generator = torch.Generator().manual_seed(4)
    positives = torch.randn(7, generator=generator, dtype=torch.float64, requires_grad=True)
    negatives = torch.randn(3, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(7, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p, n: pairwise_softplus_sum(p, n, weights, 0.3), (positives, negatives))
    naive = (weights[:, None] * F.softplus((negatives[None, :] - positives[:, None]) / 0.3)).sum()
    assert pairwise_softplus_sum(positives, negatives, weights, 0.3).item() == pytest.approx(naive.item(), rel=1e-12)


def test_raising_the_positive_score_lowers_the_loss() -> None:
    generator = torch.Generator().manual_seed(1)
    query = torch.eye(3, 4, dtype=torch.float64)
    docs = 0.1 * torch.randn(3, 2, 4, generator=generator, dtype=torch.float64)
    for pool in ("batch", "query"):
        shift = torch.zeros((), dtype=torch.float64, requires_grad=True)
        moved = docs.clone()
        moved[0, 0] = docs[0, 0] + shift * query[0]  # raises s(q1, d1) only: the queries are orthogonal
        loss = MWAUCLoss(temperature=0.1, similarity="dot", negative_pool=pool)
        value = loss.compute_loss_from_embeddings(query, moved, torch.zeros(3, 2, dtype=torch.float64))
        (grad,) = torch.autograd.grad(value, shift)
        assert grad.item() < 0


@pytest.mark.parametrize("similarity, temperature, magnitude", [("cosine", 1e-5, 1.0), ("dot", 0.01, 1e3)])
@pytest.mark.parametrize("pool", ["batch", "query"])
def test_stable_at_huge_logits(similarity: str, temperature: float, magnitude: float, pool: str) -> None:
    generator = torch.Generator().manual_seed(2)
    query = (magnitude * torch.randn(4, 16, generator=generator)).requires_grad_(True)
    docs = (magnitude * torch.randn(4, 2, 16, generator=generator)).requires_grad_(True)
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, -1.0], [1.0, 0.0]])
    loss = MWAUCLoss(temperature=temperature, similarity=similarity, negative_pool=pool)
    value = loss.compute_loss_from_embeddings(query, docs, labels)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert torch.isfinite(query.grad).all() and torch.isfinite(docs.grad).all()


def test_config_and_validation() -> None:
    assert MWAUCLoss().get_config_dict() == {
        "temperature": 0.01, "similarity": "cosine", "negative_pool": "batch",
        "negative_reduction": "sum", "gather_across_devices": True,
    }
    for bad in ({"temperature": 0.0}, {"negative_pool": "rank"}, {"negative_reduction": "max"}, {"similarity": "l2"}):
        with pytest.raises(InputError):
            MWAUCLoss(**bad)
