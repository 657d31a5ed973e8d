"""Ring-exchange BiXSE equals the all-gather BiXSE on 2 and 4 gloo processes (to 1e-5: both score in
float32): loss, gradients, and the weights of a DDP-wrapped encoder after one optimizer step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gloo_ranks import run_on_gloo_ranks

from bixse.errors import InputError
from bixse.losses import get_loss
from bixse.losses.batch import EMPTY_SLOT

ROWS, SLOTS, FEATURES, DIM = 8, 2, 6, 5


def global_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs (ROWS, SLOTS + 1, FEATURES) of a linear encoder, labels and document keys, with
    copies of one document on rows of different ranks and an empty slot."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(ROWS, SLOTS + 1, FEATURES, generator=generator, dtype=torch.float64)
    labels = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.0, EMPTY_SLOT], [0.5, 0.0],
                           [1.0, 0.5], [0.25, 0.0], [0.0, 0.75], [1.0, 0.0]], dtype=torch.float64)
    keys = torch.arange(ROWS * SLOTS).reshape(ROWS, SLOTS)
    inputs[7, 2], keys[7, 1] = inputs[0, 1], keys[0, 0]   # row 7 (last rank) carries row 0's document_0
    inputs[3, 1], keys[3, 0] = inputs[5, 1], keys[5, 0]   # rows 3 and 5 share document_0
    return inputs, labels, keys


def _one_step(name: str, inputs: torch.Tensor, labels: torch.Tensor, keys: torch.Tensor) -> dict:
    """Loss, embedding and bias gradients, and encoder weights after one SGD step under DDP."""
    from torch.nn.parallel import DistributedDataParallel

    torch.manual_seed(0)
    encoder = DistributedDataParallel(torch.nn.Linear(FEATURES, DIM, dtype=torch.float64))
    loss = get_loss(name, bias=-1.0).double()
    optimizer = torch.optim.SGD([*encoder.parameters(), *loss.parameters()], lr=0.5)
    embedded = encoder(inputs)
    query, docs = embedded[:, 0], embedded[:, 1:]
    query.retain_grad()
    docs.retain_grad()
    value = loss.compute_loss_from_embeddings(query, docs, labels, keys)
    value.backward()
    result = {"loss": value.detach(), "query": query.grad.clone(), "docs": docs.grad.clone(),
              "bias_grad": loss.bias.grad.clone()}
    optimizer.step()
    result.update({"weight": encoder.module.weight.detach().clone(), "bias": loss.bias.detach().clone()})
    return result


def _rank_results(rank: int, world: int) -> dict:
    rows = ROWS // world
    local = [tensor[rank * rows:(rank + 1) * rows] for tensor in global_batch()]
    return {name: _one_step(name, *local) for name in ("bixse", "bixse_ring")}


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
def test_ring_equals_all_gather(world: int, tmp_path: Path) -> None:
    ranks = run_on_gloo_ranks(_rank_results, world, tmp_path)
    for rank, results in enumerate(ranks):
        gathered, ring = results["bixse"], results["bixse_ring"]
        for key in ("loss", "query", "docs", "bias_grad", "weight", "bias"):
            assert torch.allclose(ring[key], gathered[key], rtol=1e-5, atol=1e-6), (rank, key)
        assert gathered["loss"] > 0 and gathered["docs"].abs().sum() > 0
    first, last = ranks[0]["bixse_ring"], ranks[-1]["bixse_ring"]
    assert torch.equal(first["weight"], last["weight"]) and torch.equal(first["bias"], last["bias"])


def test_ring_loss_without_torch_distributed_is_a_clear_error() -> None:
    loss = get_loss("bixse_ring")
    with pytest.raises(InputError, match="torchrun") as error:
        loss.compute_loss_from_embeddings(torch.randn(2, 4), torch.randn(2, 1, 4), torch.ones(2, 1))
    assert error.value.field == "loss"


def test_bixse_train_refuses_the_ring_loss_on_one_process_before_the_model_loads(monkeypatch) -> None:
    from bixse.training import TrainConfig
    from bixse.training.pipeline import check_loss

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(InputError, match="torchrun") as error:
        check_loss(TrainConfig(loss="bixse_ring"))
    assert error.value.field == "loss"
    monkeypatch.setenv("WORLD_SIZE", "2")
    loss_class, params = check_loss(TrainConfig(loss="bixse_ring"))
    assert params["bias"] == -15.0  # bixse's recipe


@pytest.mark.parametrize("params, field", [({"positive_weight": "balanced"}, "positive_weight"),
                                           ({"gather_across_devices": False}, "gather_across_devices")])
def test_unsupported_parameters(params, field) -> None:
    with pytest.raises(InputError) as error:
        get_loss("bixse_ring", **params)
    assert error.value.field == field


def _unequal_blocks_error(rank: int, world: int) -> str:
    rows = 3 + rank  # rank 0 holds 3 rows, rank 1 holds 4: a batch the world size does not divide
    try:
        get_loss("bixse_ring").compute_loss_from_embeddings(torch.randn(rows, 4), torch.randn(rows, 1, 4),
                                                            torch.ones(rows, 1))
    except InputError as error:
        return f"{error.field}: {error}"
    return "no error"


@pytest.mark.distributed
def test_ranks_with_unequal_batches_are_a_clear_error_before_any_exchange(tmp_path: Path) -> None:
    messages = run_on_gloo_ranks(_unequal_blocks_error, 2, tmp_path)
    for message in messages:
        assert message.startswith("batch_size: ") and "same number of rows" in message
        assert "(3, 1)" in message and "(4, 1)" in message
