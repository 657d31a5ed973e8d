"""Judging fixtures: tiny random causal LMs with SmolLM2's tokenizer (seconds, no download),
and the real offline SmolLM2 judge, loaded at most once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's tokenizer (with its chat template), read from the packaged GGUF once."""
    from transformers import AutoTokenizer

    from bixse.judging.assets import smollm2_gguf

    folder, name = smollm2_gguf()
    target = tmp_path_factory.mktemp("smollm2-tokenizer")
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(target)
    return target


def _save_tiny_lm(model, tokenizer_dir: Path, target: Path, chat_template: bool) -> Path:
    from transformers import AutoTokenizer

    model.save_pretrained(target)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if not chat_template:
        tokenizer.chat_template = None
    tokenizer.save_pretrained(target)
    if not chat_template:
        # save_pretrained may still write the template file from the source; drop it.
        for name in ("chat_template.jinja", "chat_template.json"):
            (target / name).unlink(missing_ok=True)
    return target


@pytest.fixture(scope="session")
def tiny_llama_dir(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random Llama (rotary positions) with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True)
    return _save_tiny_lm(LlamaForCausalLM(config), smollm2_tokenizer_dir, tmp_path_factory.mktemp("tiny-llama"),
                         chat_template=True)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random GPT-2 (absolute positions) with no chat template: the plain-prompt path."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    config = GPT2Config(vocab_size=49152, n_embd=32, n_layer=2, n_head=4, n_positions=2048)
    return _save_tiny_lm(GPT2LMHeadModel(config), smollm2_tokenizer_dir, tmp_path_factory.mktemp("tiny-gpt2"),
                         chat_template=False)


@pytest.fixture(scope="session")
def smollm2_judge():
    """The real offline default LLM judge (~25 s to load): shared by the few tests that need it."""
    from bixse.judging import LLMJudge

    judge = LLMJudge(max_document_tokens=96)
    judge.judge([("warm up", "load the model once")])
    return judge
