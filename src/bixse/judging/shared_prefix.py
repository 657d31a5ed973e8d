"""Scoring a query's candidates behind one shared prefix: the prompt's instructions and the query
are encoded once, their keys and values (the KV cache) reused for every candidate's document.

A judging prompt is ``instructions + query + document + answer prefix``; the first part is the
same for every candidate of a query and is most of the tokens (UMBRELA's instructions alone are
~300). Causal attention makes each position depend on earlier positions only, so the prefix's
keys and values are the same in every row: computing them once and running only the suffixes
(document + answer prefix) against them gives the unshared scores (to float rounding; tested to
1e-4) at a fraction of the FLOPs. The prefix is found on token ids, never on text: the common
token prefix of the query's prompt rendered with two different documents, so that a BPE merge
across the query/document boundary can never be shared wrongly; a row whose ids do not start
with it is scored the unshared way.

Suffixes are right-padded in one batch; each real token attends to the prefix and to its own
earlier tokens, never to padding (which comes after it), and the next-token logits are read at
each row's last real position only (``logits_to_keep`` with those positions).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

# Two documents with nothing in common: the prompt's tokens before the document are what
# both renders share.
SENTINEL_DOCUMENTS = ("alpha beta gamma", "Zulu 7 yankee")
MIN_SHARED_TOKENS = 8  # below this a prefix saves less than its bookkeeping costs
# transformers 5.2x names the KV-cache argument and output ``cache``; earlier versions ``past_key_values``.
CACHE_ARGUMENTS = ("cache", "past_key_values")


def cache_argument(forward_parameters: Sequence[str]) -> str | None:
    """The name under which ``model.forward`` takes a KV cache, or None when it takes none."""
    return next((name for name in CACHE_ARGUMENTS if name in forward_parameters), None)


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second):
        if a != b:
            break
        length += 1
    return length


class PrefixCache:
    """The KV cache of one prefix (token ids), computed on first use and copied for each batch."""

    def __init__(self, argument: str = "cache") -> None:
        self.prefix: tuple[int, ...] = ()
        self.argument = argument
        self._cache: Any = None

    def get(self, model: Any, prefix: Sequence[int], device: str) -> Any:
        """A fresh copy of ``prefix``'s KV cache (the model appends to the cache it is given)."""
        if tuple(prefix) != self.prefix or self._cache is None:
            ids = torch.tensor([list(prefix)], device=device)
            self._cache = getattr(model(input_ids=ids, use_cache=True), self.argument)
            self.prefix = tuple(prefix)
        return copy.deepcopy(self._cache)


def suffix_logits(model: Any, cache: Any, prefix_length: int, suffixes: Sequence[Sequence[int]], pad_id: int,
                  keep_positions: bool, argument: str = "cache") -> torch.Tensor:
    """Next-token logits after each ``prefix + suffix``, shape (len(suffixes), vocab), from the
    prefix's KV ``cache`` (batch 1, repeated here to the batch)."""
    rows, width = len(suffixes), max(len(suffix) for suffix in suffixes)
    device = next(model.parameters()).device
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long, device=device)
    suffix_mask = torch.zeros((rows, width), dtype=torch.long, device=device)
    for row, suffix in enumerate(suffixes):
        input_ids[row, :len(suffix)] = torch.tensor(list(suffix), device=device)
        suffix_mask[row, :len(suffix)] = 1
    cache.batch_repeat_interleave(rows)
    attention_mask = torch.cat([torch.ones((rows, prefix_length), dtype=torch.long, device=device), suffix_mask], 1)
    position_ids = (prefix_length + torch.arange(width, device=device)).unsqueeze(0).expand(rows, -1)
    last = [len(suffix) - 1 for suffix in suffixes]
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
                              argument: cache, "use_cache": True}
    if keep_positions:  # logits at the rows' last positions only, not (rows, width, vocab)
        kept = sorted(set(last))
        inputs["logits_to_keep"] = torch.tensor(kept, device=device)
        logits = model(**inputs).logits
        column = torch.tensor([kept.index(position) for position in last], device=device)
    else:
        logits = model(**inputs).logits
        column = torch.tensor(last, device=device)
    return logits[torch.arange(rows, device=device), column]
