"""Encoding: length-sorted batches come back in input order; precision choices."""

import numpy as np
import pytest
import torch

from bixse.errors import InputError
from bixse.retrieval import encode_texts, resolve_precision
from bixse.retrieval.encoding import token_lengths

TEXTS = ["short", "a much longer text about boundary layers and shock waves over a wing",
         "medium length text here", "x", "another fairly long sentence on heat transfer in hypersonic flow"]


def test_rows_come_back_in_input_order_and_batches_longest_first(tiny_model):
    batches = []
    original = tiny_model.encode_document

    def recording(batch, **kwargs):
        batches.append(list(batch))
        return original(batch, **kwargs)

    tiny_model.encode_document = recording
    embeddings = encode_texts(tiny_model, TEXTS, kind="document", batch_size=2, precision="fp32",
                              show_progress=False)
    expected = original(TEXTS, convert_to_numpy=True)
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-5)
    assert embeddings.dtype == np.float32 and embeddings.shape == (5, 32)
    lengths = dict(zip(TEXTS, token_lengths(tiny_model, TEXTS)))
    flat = [lengths[text] for batch in batches for text in batch]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert flat == sorted(flat, reverse=True)


def test_bf16_autocast_stays_close_to_fp32(tiny_model):
    fp32 = encode_texts(tiny_model, TEXTS, precision="fp32", show_progress=False)
    bf16 = encode_texts(tiny_model, TEXTS, precision="bf16", show_progress=False)
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99
    assert not np.array_equal(fp32, bf16)  # autocast really ran in bf16


def test_precision_resolution(monkeypatch):
    monkeypatch.setattr("bixse.retrieval.encoding.cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"  # what auto means for training too
    monkeypatch.setattr("bixse.retrieval.encoding.cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"  # autocast would emulate bf16: slower than fp32
    assert resolve_precision("auto", torch.device("cuda", 0)) == "fp16"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(InputError, match="fp16 is for GPUs"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(InputError, match="unknown precision"):
        resolve_precision("int4", "cpu")


def test_empty_input_and_bad_batch_size(tiny_model):
    assert encode_texts(tiny_model, [], show_progress=False).shape == (0, 32)
    with pytest.raises(InputError, match="batch size"):
        encode_texts(tiny_model, TEXTS, batch_size=0)
