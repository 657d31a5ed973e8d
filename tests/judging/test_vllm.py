"""The vLLM backend's read-out against a stand-in ``vllm`` module (vLLM needs a GPU): prompts,
sampling parameters and the grade distribution from top log-probabilities, by hand."""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass

import pytest

from bixse.errors import InputError
from bixse.judging import VLLMJudge, get_judge


@dataclass
class Logprob:
    logprob: float


def decoded(tokenizer, prompts) -> list[str]:
    """The texts of token prompts, as vLLM takes them (``{"prompt_token_ids": [...]}``)."""
    return [tokenizer.decode(prompt["prompt_token_ids"]) for prompt in prompts]


def fake_vllm(tokenizer_dir, top_by_text: dict[str, float]) -> types.ModuleType:
    """A ``vllm`` module whose engine answers every prompt with ``top_by_text`` (token text -> log-prob)."""
    from transformers import AutoTokenizer

    module = types.ModuleType("vllm")

    class LLM:
        last: LLM | None = None

        def __init__(self, model: str, trust_remote_code: bool = False, **options) -> None:
            self.model, self.options = model, options
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            LLM.last = self

        def get_tokenizer(self):
            return self.tokenizer

        def generate(self, prompts, params, use_tqdm=True):
            self.token_prompts, self.params = prompts, params
            self.prompts = decoded(self.tokenizer, prompts)
            top = {self.tokenizer.convert_tokens_to_ids(t): Logprob(lp) for t, lp in top_by_text.items()}
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(logprobs=[top])]) for _ in prompts]

    module.LLM = LLM
    module.SamplingParams = lambda **params: params
    return module


def test_vllm_grade_readout(smollm2_tokenizer_dir, monkeypatch) -> None:
    vllm = fake_vllm(smollm2_tokenizer_dir, {"2": -0.5, "3": -1.0, "Hello": -0.2})
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    judge = VLLMJudge("org/some-7b-instruct", gpu_memory_utilization=0.5, max_document_tokens=8)
    results = judge.judge([("shock waves", "word " * 100), ("flutter", "panel flutter")])
    p2, p3 = math.exp(-0.5), math.exp(-1.0)
    # Grades 0 and 1 are outside the top log-probabilities: probability 0.
    expected = (2 * p2 + 3 * p3) / (p2 + p3) / 3
    assert [r.score for r in results] == pytest.approx([expected, expected], abs=1e-12)
    assert results[0].distribution == pytest.approx({"0": 0.0, "1": 0.0, "2": p2 / (p2 + p3), "3": p3 / (p2 + p3)})
    engine = vllm.LLM.last
    assert engine.options == {"gpu_memory_utilization": 0.5, "enable_prefix_caching": True}
    assert engine.params == {"max_tokens": 1, "temperature": 0.0, "logprobs": 20}
    assert engine.prompts[0].startswith("<|im_start|>system") and engine.prompts[0].endswith("<|im_start|>assistant\n")
    assert engine.prompts[0].count("word") == 8, "documents cut to the token budget"
    # Token ids without added special tokens: the chat template wrote them (no second BOS).
    assert engine.token_prompts[0]["prompt_token_ids"] == \
        engine.tokenizer(engine.prompts[0], add_special_tokens=False)["input_ids"]
    assert judge.identity.startswith("vllm:org/some-7b-instruct@default|mode=grade")
    assert judge.source == "llm:some-7b-instruct"


def test_without_vllm_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(InputError, match="pip install vllm"):
        get_judge("vllm", model="org/model")


def test_vllm_prompts_go_grouped_by_query_and_come_back_in_order(smollm2_tokenizer_dir, monkeypatch) -> None:
    vllm = fake_vllm(smollm2_tokenizer_dir, {})
    engine_class = vllm.LLM  # its instances answer per prompt below

    def generate(self, prompts, params, use_tqdm=True):
        self.prompts = prompts = decoded(self.tokenizer, prompts)
        grade = {True: self.tokenizer.convert_tokens_to_ids("3"), False: self.tokenizer.convert_tokens_to_ids("0")}
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(logprobs=[{grade["zebra" in prompt]: Logprob(0.0)}])])
                for prompt in prompts]

    monkeypatch.setattr(engine_class, "generate", generate)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    judge = VLLMJudge("org/model", enable_prefix_caching=False)
    pairs = [("first query", "zebra answer"), ("second query", "nothing"), ("first query", "nothing"),
             ("second query", "zebra answer")]
    assert [r.score for r in judge.judge(pairs)] == [1.0, 0.0, 0.0, 1.0]
    engine = vllm.LLM.last
    assert ["first query" in prompt for prompt in engine.prompts] == [True, True, False, False]
    assert engine.options == {"enable_prefix_caching": False}, "the user's engine option wins"


def test_engine_options_that_change_scores_are_part_of_the_identity(smollm2_tokenizer_dir, monkeypatch) -> None:
    """Another revision or dtype is another judge (its labels are not reused); memory settings are not."""
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(smollm2_tokenizer_dir, {}))
    base = VLLMJudge("org/model", revision="a").identity
    assert VLLMJudge("org/model", revision="b").identity != base
    assert VLLMJudge("org/model", revision="a", dtype="float16").identity != base
    assert VLLMJudge("org/model", revision="a", gpu_memory_utilization=0.5, tensor_parallel_size=2).identity == base
    assert base.startswith("vllm:org/model@a|")


def test_another_judges_option_is_refused_before_the_engine_starts(smollm2_tokenizer_dir, monkeypatch) -> None:
    """`--judge vllm --precision bf16` (an llm judge option) names the option, not a TypeError in vllm.LLM."""
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(smollm2_tokenizer_dir, {}))
    for option in ({"precision": "bf16"}, {"timeout_s": 5.0}):
        with pytest.raises(InputError, match=f"takes no option '{next(iter(option))}'") as caught:
            get_judge("vllm", model="org/model", **option)
        assert caught.value.field == "judge"
    assert get_judge("vllm", model="org/model", dtype="bfloat16").engine_options["dtype"] == "bfloat16"
    assert get_judge("vllm", model="org/model", seed=3).engine_options["seed"] == 3  # vllm.LLM's own seed
