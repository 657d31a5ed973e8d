"""Encoding texts with a sentence-transformers bi-encoder: length-sorted batches, a progress
bar, and a chosen numeric precision.

Queries go through ``model.encode_query`` and documents through ``model.encode_document``, so
a model's own prompts (``query: `` / ``passage: ``) and router tasks apply exactly as in
sentence-transformers. What this module adds around them:

- texts are sorted by *token* length (longest first) before batching, so each batch pads to
  nearly its own length and an out-of-memory error, if any, comes on the first batch;
- ``precision``: ``fp32``; ``bf16`` (``torch.autocast``; on a CPU with AVX512-BF16 or AMX it
  encodes MiniLM 1.2-2x faster, document embeddings at cosine >= 0.99997 to fp32, Cranfield
  test nDCG@10 0.3453 -> 0.343; see bench/README.md); ``fp16`` (autocast on CUDA); ``auto`` =
  fp16 on CUDA, bf16 on a CPU where it is native, fp32 elsewhere: what ``auto`` means for
  training, the demo and experiments too, and every report names the precision that ran.
  Pass ``fp32`` for numbers that match sentence-transformers' own encode (to 1e-7);
- a rich progress bar over the whole corpus rather than per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from bixse.environment import cpu_has_native_bf16
from bixse.errors import InputError
from bixse.progress import progress_bar

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
TextKind = Literal["query", "document"]


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else an ``InputError``."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}' (expected one of {', '.join(PRECISIONS)})",
                         field="precision")
    return precision


def resolve_precision(precision: str, device: torch.device | str | None = None) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``fp16``) ``precision`` means on ``device``
    (default: CUDA when available, else the CPU). ``auto``: fp16 on CUDA; on a CPU bf16 where it
    is native (AVX512-BF16 or AMX: 1.2-2x faster, nDCG@10 within ~0.002), else fp32."""
    check_precision(precision)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device_type = torch.device(device).type
    if precision == "auto":
        if device_type == "cuda":
            return "fp16"
        return "bf16" if device_type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device_type == "cpu":
        raise InputError("fp16 is for GPUs; on a CPU use bf16 (autocast) or fp32", field="precision")
    return precision


def autocast_context(precision: str, device: torch.device | str):
    """``torch.autocast`` for ``bf16``/``fp16``, a no-op for ``fp32``."""
    device_type = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device_type=device_type, dtype=torch.float16)
    return nullcontext()


# Texts tokenized per call of the length pre-pass: a fast tokenizer's encodings hold about 200
# bytes a token until the call returns, so a whole corpus at once would need ~129 GiB at MS MARCO.
LENGTH_CHUNK = 10_000


def token_lengths(model: SentenceTransformer, texts: Sequence[str], chunk: int = LENGTH_CHUNK) -> np.ndarray:
    """Number of tokens each text will have after truncation (characters when no tokenizer),
    tokenized ``chunk`` texts at a time so memory is bounded by the chunk, not the corpus."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not callable(tokenizer):
        return np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))
    max_length = model.max_seq_length or None
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = [texts[i] for i in range(start, min(start + chunk, len(texts)))]
        encoded = tokenizer(part, add_special_tokens=True, truncation=max_length is not None,
                            max_length=max_length, return_attention_mask=False, return_token_type_ids=False)
        lengths[start:start + len(part)] = [len(ids) for ids in encoded["input_ids"]]
    return lengths


def encode_texts(
    model: SentenceTransformer,
    texts: Sequence[str],
    *,
    kind: TextKind = "document",
    batch_size: int = 32,
    precision: Precision | str = "auto",
    show_progress: bool | None = None,
    description: str | None = None,
    advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed ``texts``; return a float32 array of shape ``(len(texts), dim)`` in input order.

    Embeddings are returned as the model outputs them (normalised only if the model has a
    ``Normalize`` module); similarity functions normalise where they need to. ``advance``: a
    progress callback (texts done) of a bar the caller holds, instead of a bar of this call's own.
    """
    if batch_size <= 0:
        raise InputError(f"batch size must be positive, got {batch_size}", field="batch_size")
    concrete = resolve_precision(precision, model.device)
    encode = model.encode_query if kind == "query" else model.encode_document
    dimension = model.get_embedding_dimension()
    if not texts:
        return np.zeros((0, dimension or 0), dtype=np.float32)
    order = np.argsort(-token_lengths(model, texts), kind="stable")
    output: np.ndarray | None = None
    own_bar = progress_bar(len(texts), description or f"encoding {kind}s", show_progress if advance is None else False)
    with own_bar as own_advance:
        advance = advance or own_advance
        for start in range(0, len(texts), batch_size):
            batch_positions = order[start:start + batch_size]
            batch = [texts[i] for i in batch_positions]
            with torch.inference_mode(), autocast_context(concrete, model.device):
                embeddings = encode(batch, batch_size=len(batch), convert_to_tensor=True, show_progress_bar=False)
            embeddings = embeddings.float().cpu().numpy()
            if output is None:
                output = np.empty((len(texts), embeddings.shape[1]), dtype=np.float32)
            output[batch_positions] = embeddings
            advance(len(batch))
    assert output is not None
    return output
