"""GradCache (``CachedLoss``) gives the plain loss's value and gradients, the loss's own bias included.

A tiny random BERT in fp32 embeds a batch of 6 rows (query + 3 document slots) in mini-batches of
2: the cached loss and every parameter's gradient must equal the plain loss's to 1e-5. The batch
repeats one document in two rows (the duplicate mask must come from the whole batch's token ids)
and has empty slots (-1), one of them a row's document_0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bixse.losses import get_loss
from bixse.losses.batch import EMPTY_SLOT, document_keys

MINI_BATCH = 2
TOLERANCE = 1e-5
DOCUMENTS = [
    ("supersonic wing drag", "Wave drag of swept wings rises near Mach one.", "Gliders have long thin wings.",
     "The recipe needs two cups of flour."),
    ("boundary layer transition", "Laminar boundary layers turn turbulent.", "Pipe flow depends on Reynolds number.",
     "The cat slept on the windowsill."),
    ("heat transfer at hypersonic speed", "Stagnation heating grows with speed cubed.", "Fourier's law of conduction.",
     ""),
    ("shock wave reflection", "An oblique shock reflects from a wall.", "Echoes from canyon walls.",
     "Wave drag of swept wings rises near Mach one."),  # row 0's document_0 again
    ("buckling of thin cylinders", "", "Columns under load fail by bending.", "The train leaves at noon."),
    ("flutter of aircraft panels", "Panel flutter is a self-excited oscillation.", "Flags flutter in the wind.",
     "Chess openings reward study."),
]
LABELS = torch.tensor([
    [1.0, 0.25, 0.0],
    [0.75, 0.5, 0.0],
    [1.0, 0.0, EMPTY_SLOT],
    [0.5, 0.75, 0.25],
    [EMPTY_SLOT, 0.75, 0.0],
    [0.75, 0.0, 0.25],
])
# bias -1 rather than 0: a gradient of the bias that is clearly nonzero.
CASES = {"bixse": {"bias": -1.0}, "infonce": {}, "soft_infonce": {}, "lsepair": {"similarity": "cosine", "scale": 20.0},
         "jointlh": {}}


def batch_features(model, rows: list[tuple[str, ...]]) -> list[dict[str, torch.Tensor]]:
    """One tokenized column per field (query, document_0..2), as the trainer's collator builds them."""
    return [model.preprocess([row[column] for row in rows]) for column in range(len(rows[0]))]


def load_model(path: Path, dropout: bool = False):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    if dropout:
        model.train()
    else:
        model.eval()  # no dropout: both paths compute the same function
    return model


def loss_and_gradients(loss, model, features, labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Value and gradients of ``loss``; parameter names without the wrapper's "loss." prefix."""
    value = loss(features, labels)
    value.backward()
    gradients = {name.removeprefix("loss."): p.grad.clone() for name, p in loss.named_parameters()
                 if p.grad is not None}
    return value.detach(), gradients


def plain_and_cached(path: Path, name: str, params: dict, rows=DOCUMENTS, labels=LABELS):
    from bixse.losses.cached import CachedLoss

    results = []
    for cached in (False, True):
        model = load_model(path)
        loss = get_loss(name, model, **params)
        if cached:
            loss = CachedLoss(loss, MINI_BATCH)
        results.append(loss_and_gradients(loss, model, batch_features(model, rows), labels.clone()))
    return results


def assert_same(plain, cached) -> float:
    """Equal values and gradients of every parameter; returns the largest absolute difference."""
    (plain_value, plain_grads), (cached_value, cached_grads) = plain, cached
    assert set(cached_grads) == set(plain_grads)
    torch.testing.assert_close(cached_value, plain_value, atol=TOLERANCE, rtol=TOLERANCE)
    worst = (cached_value - plain_value).abs().item()
    for name, gradient in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], gradient, atol=TOLERANCE, rtol=TOLERANCE, msg=name)
        worst = max(worst, (cached_grads[name] - gradient).abs().max().item())
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_cached_loss_and_gradients_equal_the_plain_loss(name: str, tiny_model_path: Path) -> None:
    plain, cached = plain_and_cached(tiny_model_path, name, CASES[name])
    worst = assert_same(plain, cached)
    print(f"{name}: largest |cached - plain| over the value and every gradient: {worst:.2e}")  # shown with -s
    gradients = plain[1]
    assert any(key.startswith("model.") and g.abs().sum() > 0 for key, g in gradients.items())
    if name == "bixse":
        assert "bias" in cached[1] and cached[1]["bias"].abs().item() > 1e-3


@pytest.mark.slow
def test_the_batch_exercises_the_duplicate_mask(tiny_model_path: Path) -> None:
    """Row 3 repeats row 0's document_0 in another mini-batch: without the mask the loss would differ,
    so the equality above shows the cached loss masks it as the plain loss does."""
    model = load_model(tiny_model_path)
    features = batch_features(model, DOCUMENTS)
    keys = document_keys(features[1:])
    # One repeated document, and the two empty slots' "" (never scored: the labels say empty).
    assert keys[3, 2] == keys[0, 0] and len(set(keys.flatten().tolist())) == keys.numel() - 2
    with torch.no_grad():
        query, *documents = [model(f)["sentence_embedding"] for f in features]
        loss = get_loss("infonce")
        masked = loss.compute_loss_from_embeddings(query, torch.stack(documents, dim=1), LABELS.clone(), keys)
        unmasked = loss.compute_loss_from_embeddings(query, torch.stack(documents, dim=1), LABELS.clone())
    assert abs(masked.item() - unmasked.item()) > 1e-4


@pytest.mark.slow
def test_own_parameter_gradient_follows_the_outer_gradient(tiny_model_path: Path) -> None:
    """Backward from 0.25 * loss (gradient accumulation, a loss scale) scales the bias's gradient as
    it scales the model's."""
    from bixse.losses.cached import CachedLoss

    gradients = {}
    for factor in (1.0, 0.25):
        model = load_model(tiny_model_path)
        loss = CachedLoss(get_loss("bixse", model, bias=-1.0), MINI_BATCH)
        (factor * loss(batch_features(model, DOCUMENTS), LABELS.clone())).backward()
        gradients[factor] = {name: p.grad.clone() for name, p in loss.named_parameters() if p.grad is not None}
    assert "loss.bias" in gradients[1.0]
    for name, full in gradients[1.0].items():
        torch.testing.assert_close(gradients[0.25][name], 0.25 * full, atol=1e-8, rtol=1e-5, msg=name)


@pytest.mark.slow
def test_dropout_masks_are_replayed(tiny_model_path: Path) -> None:
    """In train mode the cached gradients are those of the mini-batch embeddings of step 1.

    The reference embeds the same mini-batches with a graph from the same seed (so the same dropout
    masks), computes the loss and back-propagates: GradCache must give exactly that.
    """
    from bixse.losses.cached import CachedLoss

    torch.manual_seed(0)
    reference_model = load_model(tiny_model_path, dropout=True)
    cached_model = load_model(tiny_model_path, dropout=True)
    reference_loss = CachedLoss(get_loss("bixse", reference_model, bias=-1.0), MINI_BATCH)
    cached_loss = CachedLoss(get_loss("bixse", cached_model, bias=-1.0), MINI_BATCH)

    torch.manual_seed(1)
    features = batch_features(reference_model, DOCUMENTS)
    keys = document_keys(features[1:])
    columns = []
    for column in features:
        ranges = [(begin, min(begin + MINI_BATCH, len(DOCUMENTS))) for begin in range(0, len(DOCUMENTS), MINI_BATCH)]
        columns.append(torch.cat([reference_loss.embed_minibatch(column, begin, end, with_grad=True,
                                                                 copy_random_state=False)[0]
                                  for begin, end in ranges]))
    value = reference_loss.loss.compute_loss_from_embeddings(columns[0], torch.stack(columns[1:], dim=1),
                                                             LABELS.clone(), keys)
    value.backward()
    reference = (value.detach(), {n.removeprefix("loss."): p.grad.clone() for n, p in reference_loss.named_parameters()
                                  if p.grad is not None})

    torch.manual_seed(1)
    cached = loss_and_gradients(cached_loss, cached_model, batch_features(cached_model, DOCUMENTS), LABELS.clone())
    assert_same(reference, cached)

    # Dropout was on: a second draw embeds differently (else this test would show nothing).
    with torch.no_grad():
        first = cached_model(batch_features(cached_model, DOCUMENTS)[0])["sentence_embedding"]
        second = cached_model(batch_features(cached_model, DOCUMENTS)[0])["sentence_embedding"]
    assert not torch.allclose(first, second)


@pytest.mark.slow
def test_without_grad_it_returns_the_plain_value(tiny_model_path: Path) -> None:
    from bixse.losses.cached import CachedLoss

    model = load_model(tiny_model_path)
    with torch.no_grad():
        plain = get_loss("bixse", model, bias=-1.0)(batch_features(model, DOCUMENTS), LABELS.clone())
        cached = CachedLoss(get_loss("bixse", model, bias=-1.0), MINI_BATCH)(batch_features(model, DOCUMENTS),
                                                                              LABELS.clone())
    assert cached.item() == pytest.approx(plain.item(), abs=TOLERANCE) and not cached.requires_grad


@pytest.mark.slow
def test_wrapper_names_the_loss_for_the_model_card(tiny_model_path: Path) -> None:
    from bixse.errors import InputError
    from bixse.losses.cached import CachedLoss

    model = load_model(tiny_model_path)
    inner = get_loss("bixse", model, bias=-1.0)
    loss = CachedLoss(inner, 4)
    assert loss.layout == "pointwise" and loss.model is model and inner.model is None
    assert loss.get_config_dict() == {**inner.get_config_dict(), "mini_batch_size": 4}
    assert "2508.06781" in loss.citation and "2101.06983" in loss.citation
    # The model's parameters once, under "model.", and the bias as the loss's own: what the trainer's
    # optimizer groups and checkpoints read.
    names = [name for name, _ in loss.named_parameters()]
    assert [n for n in names if not n.startswith("model.")] == ["loss.bias"]
    assert not any(key.startswith("loss.model.") for key in loss.state_dict())
    for bad in (0, -2, 2.0, True):
        with pytest.raises(InputError, match="mini_batch_size"):
            CachedLoss(get_loss("infonce", model), bad)
    with pytest.raises(ValueError, match="without a model"):
        CachedLoss(get_loss("infonce"), 2)


# --- two processes --------------------------------------------------------------------------

WORLD_SIZE = 2
DISTRIBUTED_CASES = ("bixse", "infonce")


def _rank_results(rank: int, world: int, model_path: str) -> dict:
    from bixse.losses.cached import CachedLoss

    rows = len(DOCUMENTS) // world
    local = slice(rank * rows, (rank + 1) * rows)
    results = {}
    for name in DISTRIBUTED_CASES:
        model = load_model(Path(model_path))
        loss = CachedLoss(get_loss(name, model, **CASES[name]), MINI_BATCH)
        results[name] = loss_and_gradients(loss, model, batch_features(model, DOCUMENTS[local]),
                                           LABELS[local].clone())
    return results


@pytest.mark.distributed
@pytest.mark.slow
def test_cached_on_two_ranks_equals_plain_on_one_process(tiny_model_path: Path, tmp_path: Path) -> None:
    """2 gloo ranks of 3 rows (mini-batches of 2 and 1), cached, = one process of 6 rows, plain.

    DDP averages the model's gradients, so their mean over ranks must equal the one-process
    gradients; the loss averages the bias's over ranks itself, so each rank's must. The duplicate
    document spans the ranks (rows 0 and 3).
    """
    from gloo_ranks import run_on_gloo_ranks

    ranks = run_on_gloo_ranks(_rank_results, WORLD_SIZE, tmp_path, str(tiny_model_path))
    for name in DISTRIBUTED_CASES:
        model = load_model(tiny_model_path)
        expected_value, expected = loss_and_gradients(get_loss(name, model, **CASES[name]), model,
                                                      batch_features(model, DOCUMENTS), LABELS.clone())
        values = [rank[name][0] for rank in ranks]
        torch.testing.assert_close(sum(values) / WORLD_SIZE, expected_value, atol=TOLERANCE, rtol=TOLERANCE)
        for key, gradient in expected.items():
            if key.startswith("model."):
                got = sum(rank[name][1][key] for rank in ranks) / WORLD_SIZE
                torch.testing.assert_close(got, gradient, atol=TOLERANCE, rtol=TOLERANCE, msg=f"{name} {key}")
            else:
                for rank in ranks:
                    torch.testing.assert_close(rank[name][1][key], gradient, atol=TOLERANCE, rtol=TOLERANCE,
                                               msg=f"{name} {key}")
