"""The shared batch view: targets, own slots and the mask of empty slots and duplicate documents."""

from __future__ import annotations

import pytest
import torch

from bixse.losses.batch import (
    EMPTY_SLOT,
    document_keys,
    gather_with_grad,
    gather_without_grad,
    in_batch_candidates,
    similarity_matrix,
)


def test_pairs_only_view() -> None:
    query, docs = torch.randn(3, 4), torch.randn(3, 4)
    batch = in_batch_candidates(query, docs, torch.tensor([1.0, 0.5, 0.25]))
    assert batch.documents.shape == (3, 4) and batch.slots_per_row == 1
    assert torch.equal(batch.own, torch.eye(3, dtype=torch.bool))
    assert batch.valid.all()
    assert torch.equal(batch.targets, torch.diag(torch.tensor([1.0, 0.5, 0.25])))
    assert torch.equal(batch.first_slot(), torch.tensor([0, 1, 2]))
    assert torch.equal(batch.negatives, ~torch.eye(3, dtype=torch.bool))
    assert batch.local_rows == slice(0, 3) and batch.world_size == 1


def test_hard_negatives_duplicates_and_empty_slots() -> None:
    # Row 0: (a, b); row 1: (c, a) - its hard negative is row 0's positive; row 2: (d, empty).
    labels = torch.tensor([[1.0, 0.25], [0.75, 0.0], [0.5, EMPTY_SLOT]])
    keys = torch.tensor([[1, 2], [3, 1], [4, 5]])
    batch = in_batch_candidates(torch.randn(3, 4), torch.randn(3, 2, 4), labels, keys)
    # columns in (row, slot) order: a b | c a | d empty
    assert torch.equal(batch.own, torch.tensor([
        [1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=torch.bool))
    assert torch.equal(batch.valid, torch.tensor([
        [1, 1, 1, 0, 1, 0],   # row 0 must not meet its own a in row 1
        [0, 1, 1, 1, 1, 0],   # row 1 must not meet its own a in row 0
        [1, 1, 1, 1, 1, 0],   # nobody scores the empty slot, not even its own row
    ], dtype=torch.bool))
    assert torch.equal(batch.targets, torch.tensor([
        [1.0, 0.25, 0, 0, 0, 0], [0, 0, 0.75, 0.0, 0, 0], [0, 0, 0, 0, 0.5, 0.0]]))
    assert torch.equal(batch.first_slot(), torch.tensor([0, 2, 4]))
    assert torch.equal(batch.negatives[0], torch.tensor([0, 0, 1, 0, 1, 0], dtype=torch.bool))


def test_document_repeated_by_other_rows_stays_a_negative_for_the_rest() -> None:
    # Rows 1 and 2 share a hard negative (key 9); for row 0 both copies are ordinary negatives.
    keys = torch.tensor([[1, 2], [3, 9], [4, 9]])
    batch = in_batch_candidates(torch.randn(3, 4), torch.randn(3, 2, 4), torch.zeros(3, 2), keys)
    assert torch.equal(batch.valid, torch.tensor([
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 0, 1, 1],
    ], dtype=torch.bool))


def test_one_dimensional_keys_for_pairs() -> None:
    batch = in_batch_candidates(torch.randn(2, 4), torch.randn(2, 4), torch.ones(2), torch.tensor([7, 7]))
    assert torch.equal(batch.valid, torch.eye(2, dtype=torch.bool))


def test_gradients_reach_queries_and_documents() -> None:
    query = torch.randn(2, 4, requires_grad=True)
    docs = torch.randn(2, 2, 4, requires_grad=True)
    batch = in_batch_candidates(query, docs, torch.ones(2, 2))
    batch.scores("dot").sum().backward()
    assert torch.allclose(query.grad, docs.detach().sum(dim=(0, 1)).expand(2, 4))
    assert torch.allclose(docs.grad, query.detach().sum(0).expand(2, 2, 4))


def test_similarity_matrix() -> None:
    queries = torch.tensor([[3.0, 4.0]])
    documents = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(similarity_matrix(queries, documents, "dot"), torch.tensor([[3.0, 8.0]]))
    assert torch.allclose(similarity_matrix(queries, documents, "cosine"), torch.tensor([[0.6, 0.8]]))
    with pytest.raises(ValueError):
        similarity_matrix(queries, documents, "l2")  # type: ignore[arg-type]


def test_document_keys_ignore_padding() -> None:
    column0 = {"input_ids": torch.tensor([[101, 7, 102, 0], [101, 8, 9, 102]]),
               "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])}
    column1 = {"input_ids": torch.tensor([[101, 7, 102], [101, 5, 102]]),
               "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 1]])}
    keys = document_keys([column0, column1])
    assert keys.shape == (2, 2)
    assert keys[0, 0] == keys[0, 1]  # same passage, padded differently
    assert len({keys[0, 0].item(), keys[1, 0].item(), keys[1, 1].item()}) == 3


def test_gathers_are_identity_without_distributed() -> None:
    tensor = torch.randn(3, 2)
    assert gather_with_grad(tensor) is tensor and gather_without_grad(tensor) is tensor


@pytest.mark.parametrize("name", ["jointlh", "bixse", "soft_infonce"])
def test_bf16_embeddings_keep_float32_labels(name):
    """Labels cast to bf16 would round 0.7 to 0.699: a positive_threshold of 0.7 then drops every row."""
    from bixse.losses import get_loss

    torch.manual_seed(0)
    query, docs = torch.randn(2, 8).bfloat16(), torch.randn(2, 2, 8).bfloat16()
    labels = torch.tensor([[0.7, 0.1], [0.7, 0.2]])
    loss = get_loss(name, **({"positive_threshold": 0.7} if name != "bixse" else {}))
    in_bf16 = loss.compute_loss_from_embeddings(query, docs, labels)
    in_fp32 = loss.compute_loss_from_embeddings(query.float(), docs.float(), labels)
    assert in_fp32.item() > 0
    assert in_bf16.item() == pytest.approx(in_fp32.item(), rel=2e-2)
