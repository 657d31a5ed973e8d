"""The transformers LLM judge on tiny random causal LMs: read-out, left padding, templates,
truncation, identity. One slow test runs the real offline SmolLM2."""

from __future__ import annotations

import functools
import json
import math
import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bixse.errors import InputError
from bixse.judging import LLMJudge
from bixse.judging.base import Judgement

PAIRS = [
    ("what is a shock wave", "A shock wave is a thin region of abrupt change in pressure."),
    ("boundary layer transition on a flat plate at high mach number with heat transfer",
     "Heat transfer measurements."),
    ("flutter", "Panel flutter of thin plates in supersonic flow is studied with piston theory " * 3),
]


@functools.lru_cache(maxsize=4)
def load_plain(model_dir) -> tuple:
    """The model and tokenizer loaded directly with transformers, not through the judge."""
    return AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir).eval()


def hand_judgement(model_dir, text: str, label_ids: dict[str, list[int]], max_grade: int | None) -> dict[str, float]:
    """The read-out recomputed by hand: one unpadded forward pass, softmax, renormalise."""
    tokenizer, model = load_plain(model_dir)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=not tokenizer.chat_template)["input_ids"]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].double(), dim=-1)
    raw = {label: float(sum(probs[i] for i in token_ids)) for label, token_ids in label_ids.items()}
    mass = sum(raw.values())
    distribution = {label: p / mass for label, p in raw.items()}
    score = (sum(int(label) * p for label, p in distribution.items()) / max_grade if max_grade
             else distribution["yes"])
    return {"score": score, "mass": mass, **distribution}


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_gpt2_dir"])
def test_grade_readout_matches_hand_computation(fixture, request) -> None:
    model_dir = request.getfixturevalue(fixture)
    judge = LLMJudge(model_dir, max_document_tokens=32)
    results = judge.judge(PAIRS)
    for (query, document), result in zip(PAIRS, results):
        assert isinstance(result, Judgement)
        expected = hand_judgement(model_dir, judge.render(query, document), judge._label_ids, max_grade=3)
        assert result.score == pytest.approx(expected["score"], abs=1e-4)
        assert result.extras["label_mass"] == pytest.approx(expected["mass"], rel=1e-3)
        assert sum(result.distribution.values()) == pytest.approx(1.0)
        for label in "0123":
            assert result.distribution[label] == pytest.approx(expected[label], abs=1e-4)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_gpt2_dir"])
def test_left_padded_batch_scores_like_one_at_a_time(fixture, request) -> None:
    judge = LLMJudge(request.getfixturevalue(fixture), max_document_tokens=48)
    texts = [judge.render(q, d) for q, d in PAIRS]
    lengths = {len(judge._tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts}
    assert len(lengths) > 1, "the pairs must need padding for this test to mean anything"
    batched = [j.score for j in judge.judge(PAIRS)]
    alone = [judge.judge([pair])[0].score for pair in PAIRS]
    assert batched == pytest.approx(alone, abs=1e-5)
    assert judge._tokenizer.padding_side == "left"


def test_yes_no_mode(tiny_llama_dir) -> None:
    judge = LLMJudge(tiny_llama_dir, mode="yesno")
    result = judge.judge(PAIRS[:1])[0]
    expected = hand_judgement(tiny_llama_dir, judge.render(*PAIRS[0]), judge._label_ids, max_grade=None)
    assert result.score == pytest.approx(expected["score"], abs=1e-4)
    assert result.score == pytest.approx(result.distribution["yes"])
    assert "yesno" in judge.identity and judge.prompt_version.startswith("relevance-yesno/")


def test_chat_template_when_present_plain_prompt_otherwise(tiny_llama_dir, tiny_gpt2_dir) -> None:
    chat = LLMJudge(tiny_llama_dir).render("q text", "d text")
    assert chat.startswith("<|im_start|>system") and chat.endswith("<|im_start|>assistant\n")
    plain = LLMJudge(tiny_gpt2_dir).render("q text", "d text")
    assert "<|im_start|>" not in plain and plain.endswith("Answer:") and "Query: q text" in plain


def test_documents_and_queries_truncated_to_token_budget(tiny_llama_dir) -> None:
    judge = LLMJudge(tiny_llama_dir, max_document_tokens=10, max_query_tokens=4)
    document = " ".join(f"word{i}" for i in range(500))
    rendered = judge.render("alpha beta gamma delta epsilon zeta eta", document)
    passage = rendered.split("Passage: ")[1].split("\n")[0]
    assert len(judge._tokenizer(passage, add_special_tokens=False)["input_ids"]) <= 10
    assert passage.startswith("word0") and "word400" not in rendered
    query = rendered.split("Query: ")[1].split("\n")[0]
    assert len(judge._tokenizer(query, add_special_tokens=False)["input_ids"]) <= 4
    short = judge.render("q", "short document")
    assert "Passage: short document" in short


def test_identity_tracks_weights_and_settings(tiny_llama_dir, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama_dir, copy)
    before = LLMJudge(copy).identity
    assert LLMJudge(copy).identity == before
    assert LLMJudge(copy, max_grade=4).identity != before
    assert LLMJudge(copy, max_document_tokens=100).identity != before
    weights = copy / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert LLMJudge(copy).identity != before, "new weights must not reuse cached labels"


def test_bad_options_are_input_errors(tiny_llama_dir, tmp_path) -> None:
    with pytest.raises(InputError, match="GGUF file does not exist"):
        LLMJudge(tmp_path / "missing.gguf")
    with pytest.raises(InputError, match="precision"):
        LLMJudge(tiny_llama_dir, precision="fp8")
    with pytest.raises(InputError, match="max grade"):
        LLMJudge(tiny_llama_dir, max_grade=12)


def test_bf16_autocast_stays_close_to_fp32(tiny_llama_dir) -> None:
    fp32 = [j.score for j in LLMJudge(tiny_llama_dir).judge(PAIRS)]
    bf16 = [j.score for j in LLMJudge(tiny_llama_dir, precision="bf16").judge(PAIRS)]
    assert bf16 == pytest.approx(fp32, abs=0.02)


@pytest.mark.slow
def test_offline_smollm2_judge_through_bixse_judge(smollm2_judge, cranfield, tmp_path, monkeypatch) -> None:
    """`bixse judge` with the offline default on two Cranfield candidates, export and agreement.
    The CLI gets the session's loaded SmolLM2 (one ~25 s load per session) in place of a fresh one."""
    from typer.testing import CliRunner

    import bixse.cli.judge as judge_cli
    from bixse.cli import app
    from bixse.judging import LabelCache
    from bixse.judging.runner import pair_key
    from bixse.mining import Candidate, write_candidates

    built = judge_cli.get_judge("llm")
    assert built.identity.replace("doc_tokens=256", "doc_tokens=96") == smollm2_judge.identity
    monkeypatch.setattr(judge_cli, "get_judge", lambda kind, **options: smollm2_judge)
    write_candidates(tmp_path / "c.jsonl", [Candidate("1", "51", 1, 9.0), Candidate("1", "100", 2, 8.0)])
    result = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "c.jsonl"), "-c", "cranfield", "--cache",
                                      str(tmp_path / "labels.sqlite"), "-o", str(tmp_path / "graded.jsonl"),
                                      "--agreement", str(tmp_path / "agreement.json")])
    assert result.exit_code == 0, result.output
    assert "2 pairs (llm:SmolLM2-135M-Instruct.Q4_1): 0 cached, 2 judged now" in result.output
    exported = [json.loads(line) for line in (tmp_path / "graded.jsonl").read_text().splitlines()]
    assert [(p["query_id"], p["doc_id"], p["source"]) for p in exported] == [
        ("1", "51", "llm:SmolLM2-135M-Instruct.Q4_1"), ("1", "100", "llm:SmolLM2-135M-Instruct.Q4_1")]
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        for pair in exported:
            judgement = cache.get_many(smollm2_judge, [pair_key(pair["query"], pair["document"])]).popitem()[1]
            assert sum(judgement.distribution.values()) == pytest.approx(1.0)
            assert 0.0 < judgement.extras["label_mass"] <= 1.0
            assert math.isclose(pair["score"], sum(int(g) * p for g, p in judgement.distribution.items()) / 3,
                                abs_tol=1e-9)
            assert pair["grade"] == int(max(judgement.distribution, key=judgement.distribution.get))
    agreement = json.loads((tmp_path / "agreement.json").read_text())
    assert agreement["labelled"] == 2 and agreement["views"]["all_candidates"]["relevant"] == 1  # 51 is relevant, 100 unjudged
    assert smollm2_judge.identity.startswith("llm:SmolLM2-135M-Instruct.Q4_1@")


MANY = [(query, document) for query in ("what is a shock wave", "flutter of panels")
        for document in ("A shock wave is a thin region of abrupt change in pressure.", "Heat transfer measurements.",
                         "Panel flutter of thin plates in supersonic flow is studied with piston theory " * 3,
                         "flutter")] + [("a query seen once", "its only candidate document")]


def tokens_read(judge: LLMJudge, pairs) -> tuple[list[float], int]:
    """Scores of ``pairs`` and the number of token positions the model ran over."""
    seen = []
    handle = judge._model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"].numel()), with_kwargs=True)
    try:
        return [j.score for j in judge.judge(pairs)], sum(seen)
    finally:
        handle.remove()


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_gpt2_dir"])
def test_shared_prefix_scores_equal_unshared_ones(fixture, request) -> None:
    model_dir = request.getfixturevalue(fixture)
    shared = LLMJudge(model_dir, max_document_tokens=48)
    unshared = LLMJudge(model_dir, max_document_tokens=48, share_prefix=False)
    shared.judge(MANY[:1]), unshared.judge(MANY[:1])  # load both
    assert shared._can_share and not unshared._can_share
    shared_scores, shared_tokens = tokens_read(shared, MANY)
    unshared_scores, unshared_tokens = tokens_read(unshared, MANY)
    assert shared_scores == pytest.approx(unshared_scores, abs=1e-4)
    prefix = len(shared.query_prefix(MANY[0][0]))
    assert prefix >= 20  # the chat template's system turn, the instructions and the query
    assert shared_tokens < unshared_tokens
    distinct = [
        judgement.distribution for judgement in shared.judge(MANY[:4])]
    assert len({round(d["3"], 6) for d in distinct}) > 1, "candidates of one query must still score differently"


def test_the_prefix_is_encoded_once_per_query_across_calls(tiny_llama_dir) -> None:
    judge = LLMJudge(tiny_llama_dir, max_document_tokens=48)
    judge.judge(MANY[:2])
    prefix = judge.query_prefix(MANY[0][0])
    calls = []
    handle = judge._model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        judge.judge(MANY[2:4])  # same query, next batch: only the two suffixes run
    finally:
        handle.remove()
    suffixes = [len(judge.token_ids(judge.render(*pair))) - len(prefix) for pair in MANY[2:4]]
    assert calls == [(2, max(suffixes))]


def test_a_row_whose_ids_do_not_start_with_the_prefix_is_scored_unshared(tiny_llama_dir, monkeypatch) -> None:
    judge = LLMJudge(tiny_llama_dir, max_document_tokens=48)
    reference = LLMJudge(tiny_llama_dir, max_document_tokens=48, share_prefix=False)
    judge.judge(MANY[:1])
    real = judge.query_prefix(MANY[0][0])
    monkeypatch.setattr(judge, "query_prefix", lambda query: [real[0] + 1, *real[1:]])  # matches no row
    assert [j.score for j in judge.judge(MANY[:3])] == pytest.approx([j.score for j in reference.judge(MANY[:3])],
                                                                     abs=1e-5)
