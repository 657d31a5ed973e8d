"""BiXSE against InfoNCE, end to end on a handful of Cranfield training queries with a tiny model."""

from __future__ import annotations

import json

import pytest

from bixse.collections.training_data import qrels_to_graded_pairs, write_training_file
from bixse.training import TrainConfig, train


def _log(folder):
    return [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_bixse_and_infonce_train_end_to_end(tmp_path, tiny_model_path, cranfield):
    from sentence_transformers import SentenceTransformer

    queries = set(cranfield.query_ids("train")[:8])
    pairs = [p for p in qrels_to_graded_pairs(cranfield, "train") if p.query_id in queries]
    data = tmp_path / "pairs.jsonl"
    write_training_file(data, pairs)
    common = {"model": str(tiny_model_path), "data": str(data), "batch_size": 8, "max_steps": 4,
              "learning_rate": 1e-3, "logging_steps": 1, "checkpoint_steps": 2}
    # BiXSE scores the dev split before training and every 4 steps; InfoNCE only once, at the end.
    bixse = train(TrainConfig(loss="bixse", eval_steps=4, loss_learning_rate=0.05, output_dir=str(tmp_path / "bixse"),
                              **common))
    infonce = train(TrainConfig(loss="infonce", output_dir=str(tmp_path / "infonce"), **common))
    assert (bixse, infonce) == (tmp_path / "bixse", tmp_path / "infonce")

    base = SentenceTransformer(str(tiny_model_path), device="cpu")
    text = [pairs[0].query]
    positives = sum(p.score >= 0.5 for p in pairs)
    for folder, loss, layout, rows in ((bixse, "bixse", "pointwise", len(pairs)),
                                       (infonce, "infonce", "contrastive", positives)):
        trained = SentenceTransformer(str(folder), device="cpu")  # a plain sentence-transformers model
        assert not (trained.encode(text) == base.encode(text)).all()
        card = (folder / "README.md").read_text()
        assert f"**{loss}** loss" in card and f"base_model: {tiny_model_path}" in card
        assert f"graded pairs: {len(pairs)} labels over 8 queries" in card
        assert f"labels' source: human: {len(pairs)}" in card
        assert f"training rows: {rows} (layout `{layout}`" in card
        assert "## Dev scores" in card and "| 4 |" in card  # dev nDCG@10 after the last step
        assert [r["step"] for r in _log(folder) if "loss" in r] == [1, 2, 3, 4]
        assert not (folder / "checkpoints").exists()
    assert positives < len(pairs)  # InfoNCE trains on the positives only

    dev = [r for r in _log(bixse) if "eval_nDCG@10" in r]
    assert [r["step"] for r in dev] == [0, 4] and all(0.0 <= r["eval_nDCG@10"] <= 1.0 for r in dev)
    assert "| base model |" in (bixse / "README.md").read_text()
    # The loss's learnable bias (from the recipe's -15) was optimised with its own learning rate:
    # Adam moves it by about the rate per step (0.05 x schedule 0, 1, 2/3, 1/3), ~0.002 at the model's.
    card = (bixse / "README.md").read_text()
    assert "configured with `{'bias': -15.0}`" in card
    bias = float(card.split("bias: ")[1].split()[0])
    assert 0.05 < abs(bias + 15.0) < 0.15
    learned = [r["learned_loss_parameters"] for r in _log(bixse) if "learned_loss_parameters" in r]
    assert learned == [{"bias": pytest.approx(bias, abs=1e-6)}]  # the log holds it too, once, at the end
    assert not any("learned_loss_parameters" in r for r in _log(infonce))  # InfoNCE has no own parameters
