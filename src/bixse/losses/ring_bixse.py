"""Ring-exchange BiXSE: the same loss as ``bixse`` across ranks, in memory that does not grow with them."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bixse.errors import InputError
from bixse.losses.batch import EMPTY_SLOT, Similarity, similarity_matrix, with_rank_averaged_gradient
from bixse.losses.bixse import BiXSELoss
from bixse.losses.registry import register


@register("bixse_ring")
class RingBiXSELoss(BiXSELoss):
    """BiXSE (arXiv 2508.06781) over torch.distributed ranks by ring exchange, not all-gather.

    The objective, the weights and the result are ``BiXSELoss``'s (the loss and every gradient
    equal the all-gather version; tested on 2 and 4 gloo processes)::

        L = sum_ij w_ij * BCE(scale * sim(q_i, d_j) + b, t_ij) / sum_ij w_ij     over the global batch

    What differs is how the global batch is visited. The all-gather version holds every rank's
    documents and the (B, world * B * M) score matrix, with the (world * B, world * B * M) masks,
    in the autograd graph until backward, so per-rank memory grows with the number of ranks.
    Here each rank scores its B queries against one block of B * M documents at a time: its own,
    then each neighbour's as it arrives round the ring (point-to-point send / receive, world - 1
    hops). The forward pass keeps no graph; the backward pass goes round the ring again,
    recomputing one block's scores with a graph, taking its gradients and freeing it before the
    next, while each block's document gradient travels with the block and is back at its owner
    after the last hop, summed over every rank's queries (what all-gather's backward delivers).
    Memory: O(B * B * M) for scores, O(B * M * d) for blocks, whatever the world size; the price
    is computing each block's scores twice and 2 * world hops of a block.

    Like SigLIP's ring variant (Zhai et al. 2023, arXiv 2303.15343; open_clip's ``SigLipLoss``
    with ``bidir``), but open_clip keeps every received block in the graph until one backward;
    releasing each block's graph is what bounds the memory (open_clip issue #942).

    Use it under ``torchrun`` with two or more processes (on one process use ``bixse``: the same
    loss); every rank must hold the same number of rows (``bixse train`` drops incomplete global
    batches under torch.distributed). ``positive_weight="balanced"`` needs each row's negatives
    over the whole ring before any weight is known and is not supported here.

    Args: as ``BiXSELoss`` (scale, bias, learnable_bias, similarity, positive_weight).

    Inputs: layout ``pointwise``, as ``BiXSELoss``.

    Example (inside a 2-process torch.distributed job)::

        loss = RingBiXSELoss(model, bias=-15.0)
        value = loss.compute_loss_from_embeddings(query_emb, doc_emb, labels)
    """

    needs_distributed = True

    def __init__(self, model: nn.Module | None = None, scale: float = 20.0, bias: float = 0.0,
                 learnable_bias: bool = True, similarity: Similarity = "cosine",
                 positive_weight: float = 1.0, gather_across_devices: bool = True) -> None:
        if positive_weight == "balanced":
            raise InputError("the ring loss supports a numeric positive_weight only; use 'bixse' for 'balanced'",
                             field="positive_weight")
        if not gather_across_devices:
            raise InputError("the ring loss exists to span every rank's documents; for per-rank negatives use "
                             "'bixse' with gather_across_devices=false", field="gather_across_devices")
        super().__init__(model, scale, bias, learnable_bias, similarity, positive_weight, True)

    def compute_loss_from_embeddings(self, query_emb: Tensor, doc_emb: Tensor, labels: Tensor,
                                     doc_keys: Tensor | None = None) -> Tensor:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            raise InputError("the ring loss exchanges document blocks between torch.distributed processes; run "
                             "it under torchrun (on one process use 'bixse', the same loss)", field="loss")
        if doc_emb.dim() == 2:
            doc_emb, labels = doc_emb.unsqueeze(1), labels.reshape(-1, 1)
        rows, slots, dim = doc_emb.shape
        if doc_keys is None:
            doc_keys = torch.arange(rows * slots, device=labels.device).reshape(rows, slots)
            doc_keys = doc_keys + torch.distributed.get_rank() * rows * slots
        _check_equal_blocks(rows, slots, labels.device)
        block = _Block(doc_emb.reshape(-1, dim), labels.detach().to(doc_emb.dtype),
                       doc_keys.reshape(rows, slots).to(torch.int64))
        return _RingBCE.apply(query_emb, block.documents, with_rank_averaged_gradient(self.bias), block.labels,
                              block.keys, self)


class _Block:
    """One rank's documents as they travel: (B * M, d) embeddings, (B, M) labels and keys."""

    def __init__(self, documents: Tensor, labels: Tensor, keys: Tensor, gradient: Tensor | None = None) -> None:
        self.documents, self.labels, self.keys, self.gradient = documents, labels, keys, gradient

    def tensors(self) -> list[Tensor]:
        return [t for t in (self.documents, self.labels, self.keys, self.gradient) if t is not None]

    def passed_on(self, into: _Block | None = None) -> _Block:
        """This block sent to the next rank; the previous rank's block received in exchange, into the
        buffers of ``into`` when given (a block this rank no longer needs: no allocation per hop)."""
        return _Block(*_ring_exchange(self.tensors(), into.tensors() if into is not None else None))


def _ring_exchange(tensors: list[Tensor], buffers: list[Tensor] | None = None) -> list[Tensor]:
    distributed = torch.distributed
    world, rank = distributed.get_world_size(), distributed.get_rank()
    if world == 1:
        return tensors
    received = buffers if buffers is not None else [torch.empty_like(tensor) for tensor in tensors]
    operations = [distributed.P2POp(distributed.isend, tensor.contiguous(), (rank + 1) % world) for tensor in tensors]
    operations += [distributed.P2POp(distributed.irecv, buffer, (rank - 1) % world) for buffer in received]
    for request in distributed.batch_isend_irecv(operations):
        request.wait()
    return received


def _check_equal_blocks(rows: int, slots: int, device: torch.device) -> None:
    shape = torch.tensor([rows, slots], device=device)
    shapes = [torch.empty_like(shape) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(shapes, shape)
    if any(not torch.equal(other, shape) for other in shapes):
        raise InputError(f"every rank must hold the same number of rows and slots for the ring loss, got "
                         f"{[tuple(s.tolist()) for s in shapes]}: drop incomplete batches", field="batch_size")


def _block_terms(loss: RingBiXSELoss, queries: Tensor, own_keys: Tensor, bias: Tensor, block: _Block,
                 is_own: bool) -> tuple[Tensor, Tensor]:
    """(sum of w * BCE, sum of w) of this rank's queries against one block, as ``BiXSELoss`` weighs them."""
    rows, slots = own_keys.shape
    logits = loss.scale * similarity_matrix(queries, block.documents, loss.similarity).float() + bias
    keys, filled = block.keys.reshape(-1), (block.labels != EMPTY_SLOT).reshape(-1)
    copies_own = (keys.view(1, 1, -1) == own_keys.unsqueeze(-1)).any(dim=1)          # (B, B * M)
    own = torch.zeros_like(copies_own)
    targets = torch.zeros_like(logits)
    if is_own:
        own = (torch.arange(rows * slots, device=keys.device) // slots).unsqueeze(0) == \
            torch.arange(rows, device=keys.device).unsqueeze(1)
        targets[own] = block.labels.clamp_min(0).reshape(-1).float()
    valid = filled.unsqueeze(0) & (own | ~copies_own)
    weights = torch.where(valid & own, torch.tensor(float(loss.positive_weight), device=logits.device),
                          (valid & ~own).float())
    pair_loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (weights * pair_loss).sum(), weights.sum()


class _RingBCE(torch.autograd.Function):
    """Forward: the loss value round the ring, no graph. Backward: round again, one block's graph at a time."""

    @staticmethod
    def forward(ctx: Any, queries: Tensor, documents: Tensor, bias: Tensor, labels: Tensor, keys: Tensor,
                loss: RingBiXSELoss) -> Tensor:
        world = torch.distributed.get_world_size()
        own_keys = torch.where(labels != EMPTY_SLOT, keys, torch.full_like(keys, torch.iinfo(torch.int64).min))
        block = _Block(documents.detach(), labels, keys)
        spare: _Block | None = None  # a received block already passed on: the next hop's receive buffers
        numerator = torch.zeros((), dtype=torch.float32, device=queries.device)
        weight = torch.zeros((), dtype=torch.float32, device=queries.device)
        for hop in range(world):
            terms = _block_terms(loss, queries.detach(), own_keys, bias.detach(), block, is_own=hop == 0)
            numerator, weight = numerator + terms[0], weight + terms[1]
            if hop < world - 1:
                received = block.passed_on(spare)
                spare, block = (block if hop > 0 else None), received  # the caller's own tensors are never reused
        torch.distributed.all_reduce(weight)  # the global weight total, as BiXSELoss normalises
        per_rank_total = (weight / world).clamp_min(1e-12)
        ctx.save_for_backward(queries, documents, bias, labels, keys, own_keys, per_rank_total)
        ctx.loss = loss
        # Backward recomputes the blocks: under the forward's autocast, so it differentiates what ran.
        ctx.device_type = queries.device.type
        ctx.autocast = (torch.is_autocast_enabled(ctx.device_type), torch.get_autocast_dtype(ctx.device_type))
        return numerator / per_rank_total

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        queries, documents, bias, labels, keys, own_keys, per_rank_total = ctx.saved_tensors
        world = torch.distributed.get_world_size()
        query_grad = torch.zeros_like(queries)
        bias_grad = torch.zeros_like(bias)
        # Each block's gradient accumulates in float32 on its way round, whatever the embeddings' dtype.
        block = _Block(documents.detach(), labels, keys, torch.zeros_like(documents, dtype=torch.float32))
        spare: _Block | None = None
        enabled, dtype = ctx.autocast
        for hop in range(world):
            with torch.enable_grad(), torch.autocast(ctx.device_type, dtype=dtype, enabled=enabled):
                local_queries = queries.detach().requires_grad_(True)
                block_documents = block.documents.detach().requires_grad_(True)
                local_bias = bias.detach().requires_grad_(True)
                numerator, _ = _block_terms(ctx.loss, local_queries, own_keys, local_bias,
                                            _Block(block_documents, block.labels, block.keys), is_own=hop == 0)
                scaled = numerator / per_rank_total * grad_output
                grads = torch.autograd.grad(scaled, (local_queries, block_documents, local_bias))
            query_grad += grads[0]
            block.gradient += grads[1].float()
            bias_grad += grads[2]
            del numerator, scaled, grads  # this block's graph goes before the next block's is built
            # After the last block one more hop brings every block, gradient summed, home.
            received = block.passed_on(spare)
            spare, block = (block if hop > 0 else None), received
        return query_grad, block.gradient.to(documents.dtype), bias_grad, None, None, None
