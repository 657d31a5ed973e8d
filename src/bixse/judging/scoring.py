"""From an LLM's next-token log-probabilities to a graded score: shared by every LLM backend.

For labels ``l`` (grades ``L..G``, e.g. 0-3 or BiXSE's 1-4, or ``yes``/``no``), with ``P(l)`` the
next-token probability summed over the label's spellings (``"2"``, ``" 2"``; ``"yes"``, ``"Yes"``,
``" yes"``)::

    p(l)   = P(l) / sum_l' P(l')                  (renormalised over the labels only)
    score  = sum_g (g - L) * p(g) / (G - L)       (grade mode: expected grade mapped to [0, 1])
    score  = p(yes)                               (yes/no mode)

``label_mass = sum_l P(l)`` is kept: a low mass means the model wanted to say something
other than a label, a warning sign for the prompt. This is the expected-relevance read-out of
the BiXSE paper (arXiv 2508.06781) and of Thomas et al. (arXiv 2309.10621), with no sampling; reading
fine-grained grades' token probabilities rather than a sampled label is Zhuang et al. (2024, "Beyond
Yes and No: Improving Zero-Shot LLM Rankers via Scoring Fine-Grained Relevance Labels", NAACL).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bixse.errors import InputError
from bixse.judging.base import Judgement, Skipped

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

NO_LABEL_TOKEN = "no answer label among the model's top next tokens"


def logsumexp(values: Iterable[float]) -> float:
    values = [v for v in values if v != -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def judgement_from_label_logprobs(label_logprobs: Mapping[str, float], labels: Sequence[str]) -> Judgement | Skipped:
    """The judgement for one pair from ``log P(label)`` per label (``-inf`` when unseen).

    ``labels`` are grades ``("L", ..., "G")`` in order or ``("yes", "no")``. A pair where no label
    got any probability (possible with an endpoint's top-k log-probabilities) is ``Skipped``.
    """
    logprobs = [label_logprobs.get(label, -math.inf) for label in labels]
    log_mass = logsumexp(logprobs)
    if log_mass == -math.inf:
        return Skipped(NO_LABEL_TOKEN)
    distribution = {label: math.exp(lp - log_mass) for label, lp in zip(labels, logprobs)}
    if labels[0] == "yes":
        score = distribution["yes"]
    else:
        low, high = int(labels[0]), int(labels[-1])
        score = sum((int(label) - low) * p for label, p in distribution.items()) / (high - low)
    return Judgement(score=score, distribution=distribution, extras={"label_mass": math.exp(log_mass)})


def label_spellings(label: str) -> tuple[str, ...]:
    """The ways a model may write ``label`` as its next token."""
    forms = {label, label.lower(), label.capitalize()}
    return tuple(sorted(forms | {" " + form for form in forms}))


def label_token_ids(tokenizer: PreTrainedTokenizerBase, labels: Sequence[str]) -> dict[str, list[int]]:
    """For each label, the ids of its single-token spellings (see ``label_spellings``).

    Raises ``InputError`` when a label has no single-token spelling (a ``10`` grade, say) or
    two labels share a token: reading such a scale off one next token would be wrong.
    """
    ids: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for label in labels:
        found = []
        for spelling in label_spellings(label):
            encoded = tokenizer.encode(spelling, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in found:
                found.append(encoded[0])
        if not found:
            raise InputError(f"answer label {label!r} is not a single token for this tokenizer", field="labels")
        for token_id in found:
            if owner.setdefault(token_id, label) != label:
                raise InputError(f"labels {owner[token_id]!r} and {label!r} share token {token_id}", field="labels")
        ids[label] = found
    return ids


def match_label(token: str, labels: Sequence[str]) -> str | None:
    """The label a decoded token (from an endpoint's top log-probabilities) spells, if any."""
    cleaned = token.strip().lower()
    for label in labels:
        if cleaned == label.lower():
            return label
    return None
