"""Every registered loss on 2 gloo ranks of B/2 rows equals the loss on B rows in one process.

DDP averages the ranks' gradients, so the check is: mean over ranks of the loss = one-process loss,
and each rank's gradient of its own embeddings / world size = the one-process gradient of those
rows (the gather's backward sums every rank's contribution to a shard, as DDP's all-reduce does
before it averages). All losses run in one spawn to keep the test fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gloo_ranks import run_on_gloo_ranks

from bixse.losses import LOSSES, get_loss

WORLD_SIZE = 2


def loss_and_gradients(name: str, query: torch.Tensor, docs: torch.Tensor, labels: torch.Tensor,
                       keys: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of a freshly built ``name`` (so seeded sampling starts alike) and its gradients."""
    loss = get_loss(name)
    query, docs = query.clone().requires_grad_(True), docs.clone().requires_grad_(True)
    value = loss.compute_loss_from_embeddings(query, docs, labels, keys)
    value.backward()
    result = {"loss": value.detach(), "query": query.grad, "docs": docs.grad}
    result.update({f"param.{n}": p.grad for n, p in loss.named_parameters() if p.grad is not None})
    return result


def _rank_results(rank: int, world: int, names: list[str], batch: tuple[torch.Tensor, ...]) -> dict:
    rows = batch[0].size(0) // world
    local = [tensor[rank * rows:(rank + 1) * rows] for tensor in batch]
    return {name: loss_and_gradients(name, *local) for name in names}


@pytest.mark.distributed
@pytest.mark.slow
def test_two_ranks_equal_one_process(generic_batch, tmp_path: Path) -> None:
    # The ring loss needs torch.distributed even for the one-process reference: tests/losses/test_ring_bixse.py.
    names = sorted(n for n in LOSSES if not getattr(LOSSES[n], "needs_distributed", False))
    assert {"bixse", "infonce", "mw_auc"} <= set(names)
    # generic_batch holds a duplicate across the two halves: row 3 carries row 0's document_0.
    ranks = run_on_gloo_ranks(_rank_results, WORLD_SIZE, tmp_path, names, generic_batch)
    failures = []
    for name in names:
        expected = loss_and_gradients(name, *generic_batch)
        got_loss = sum(rank[name]["loss"] for rank in ranks) / WORLD_SIZE
        if not torch.allclose(got_loss, expected["loss"], rtol=1e-5, atol=1e-6):
            failures.append(f"{name}: loss {got_loss.item()} != {expected['loss'].item()}")
        for key in ("query", "docs"):
            got = torch.cat([rank[name][key] for rank in ranks]) / WORLD_SIZE
            if not torch.allclose(got, expected[key], rtol=1e-4, atol=1e-6):
                failures.append(f"{name}: {key} gradient differs by {(got - expected[key]).abs().max().item()}")
        # DDP wraps only the model: a loss's own parameters (BiXSE's bias) must leave backward with
        # the rank-averaged gradient on every rank, or their copies drift apart.
        for key in (k for k in expected if k.startswith("param.")):
            for rank_index, rank in enumerate(ranks):
                if not torch.allclose(rank[name][key], expected[key], rtol=1e-4, atol=1e-6):
                    failures.append(f"{name}: rank {rank_index} {key} gradient {rank[name][key]} != {expected[key]}")
    assert not failures, "\n".join(failures)
