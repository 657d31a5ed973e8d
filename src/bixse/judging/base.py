"""What every judge is: a named, fingerprinted function from (query, document) pairs to scores.

A judge's ``identity`` names everything that changes its scores (model weights, mode, grade
scale, truncation budget); together with ``prompt_version`` it is the label cache's key prefix,
so a changed model or prompt never reuses a stale label.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# A (query text, document text) pair, the unit every judge scores.
Pair = tuple[str, str]


@dataclass(frozen=True)
class Judgement:
    """One label: ``score`` in [0, 1] (probability-like relevance), plus what it came from.

    ``distribution`` is the judge's normalised distribution over its answer labels (grades
    ``"0"``..``"3"``, or ``"yes"``/``"no"``), ``None`` for teachers. ``extras`` keeps raw numbers
    worth auditing: ``label_mass`` (the probability the LLM put on any answer label at all),
    ``cosine``, ``logit``.
    """

    score: float
    distribution: Mapping[str, float] | None = None
    extras: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.score):
            raise ValueError(f"judgement score must be finite, got {self.score}")
        # Float round-off (an expected grade of 3.0000000001 / 3) must not break the [0, 1] contract.
        object.__setattr__(self, "score", min(1.0, max(0.0, float(self.score))))

    @property
    def grade(self) -> int | None:
        """The most probable grade when the labels are grades; ``None`` otherwise."""
        if not self.distribution or not all(label.isdigit() for label in self.distribution):
            return None
        return int(max(self.distribution, key=lambda label: self.distribution[label]))  # type: ignore[index]


@dataclass(frozen=True)
class Skipped:
    """A pair the judge could not label this time (e.g. an unparseable endpoint answer).

    Nothing is cached for it, so a rerun asks again; the runner counts skips by ``reason``.
    """

    reason: str


class JudgeError(RuntimeError):
    """The judge cannot go on (an endpoint down after all retries, a rejected API key).

    ``partial`` holds the results of the failing batch that did complete, aligned with the
    batch (``None`` where unfinished), so the runner caches them before re-raising: a crash
    never costs a label already paid for.
    """

    def __init__(self, message: str, partial: Sequence[Judgement | Skipped | None] | None = None) -> None:
        super().__init__(message)
        self.partial = list(partial) if partial is not None else None


class Judge(ABC):
    """Base class of all judges.

    Subclasses set ``kind`` (the registry name), ``family`` (``llm`` or ``teacher``: the prefix
    of the graded pairs' ``source``), ``name``, and implement ``identity`` and ``judge``.
    Models load lazily on the first ``judge`` call, so a rerun whose labels are all cached
    never loads one.
    """

    kind: ClassVar[str]
    family: ClassVar[str]
    default_batch_size: ClassVar[int] = 16
    # A judge whose labels already exist per (query id, document id), a qrels file: the runner
    # asks it by ids through ``judge_ids`` and caches nothing (see ``bixse.judging.file_labels``).
    by_ids: ClassVar[bool] = False

    name: str
    prompt_version: str = "none"

    @property
    @abstractmethod
    def identity(self) -> str:
        """A string that changes whenever the scores could change (see the module docstring)."""

    @abstractmethod
    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        """Score a batch of pairs, one result per pair, in order. No cache involved."""

    def judge_ids(self, ids: Sequence[tuple[str, str]]) -> list[Judgement | Skipped]:
        """Score (query id, document id) pairs; only judges with ``by_ids`` implement it."""
        raise NotImplementedError(f"judge {self.kind} is asked by texts, not ids")

    @property
    def source(self) -> str:
        """The ``source`` written on exported graded pairs, e.g. ``llm:SmolLM2-135M-Instruct``."""
        return f"{self.family}:{self.name}"

    def describe(self) -> dict[str, Any]:
        """Provenance stored beside the labels in the cache."""
        return {"kind": self.kind, "source": self.source, "identity": self.identity,
                "prompt_version": self.prompt_version}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r}, prompt_version={self.prompt_version!r})"
