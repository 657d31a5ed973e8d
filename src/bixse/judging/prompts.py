"""Versioned prompt templates for LLM judges: a graded scale (0-3 by default) or yes/no.

The cache keys labels by ``PromptTemplate.key``: the declared ``name/version`` plus a digest
of the template text, so editing a template without bumping its version still cannot reuse
labels made with the old wording.

The default graded prompt follows UMBRELA (Upadhyay et al., 2024, arXiv 2406.06519), the
open reproduction of the Bing relevance-assessor prompt of Thomas et al. (2023,
arXiv 2309.10621), trimmed to what a small model can follow: the grade descriptions, the
query, the passage, and a request for a single digit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bixse.errors import InputError

JudgeMode = Literal["grade", "yesno"]

# UMBRELA's 0-3 descriptions (the TREC Deep Learning grade scale), best first as they read.
UMBRELA_GRADES = (
    "3 = perfectly relevant: the passage is dedicated to the query and contains the exact answer.",
    "2 = highly relevant: the passage answers the query, but the answer may be unclear or hidden "
    "among extraneous information.",
    "1 = related: the passage seems related to the query but does not answer it.",
    "0 = irrelevant: the passage has nothing to do with the query.",
)
# Grades are read as single next tokens, so a scale stops at 9.
MAX_SUPPORTED_GRADE = 9


def grade_labels(max_grade: int) -> tuple[str, ...]:
    """The answer labels of a 0..``max_grade`` scale: ``("0", "1", ..., str(max_grade))``."""
    if not 1 <= max_grade <= MAX_SUPPORTED_GRADE:
        raise InputError(f"max grade must be between 1 and {MAX_SUPPORTED_GRADE} (grades are read as one "
                         f"digit token), got {max_grade}", field="max_grade")
    return tuple(str(grade) for grade in range(max_grade + 1))


def generic_grade_descriptions(max_grade: int) -> tuple[str, ...]:
    """Descriptions for a scale other than 0-3: both ends named, the middle ordered."""
    lines = [f"{max_grade} = perfectly relevant: the passage contains the exact answer to the query."]
    lines += [f"{grade} = partially relevant (a higher grade is more relevant)." for grade in range(max_grade - 1, 0, -1)]
    lines.append("0 = irrelevant: the passage has nothing to do with the query.")
    return tuple(lines)


@dataclass(frozen=True)
class PromptTemplate:
    """A judge prompt: ``system`` and ``user`` texts with ``{query}``, ``{document}``,
    ``{scale}`` (the grade descriptions) and ``{max_grade}`` placeholders.

    ``answer_prefix`` is appended after the assistant turn opens (e.g. ``"Grade:"``), so the
    next token is the answer. ``grade_descriptions`` overrides the scale text (best grade
    first); ``None`` means UMBRELA's for 0-3 and generic ones otherwise.
    """

    name: str
    version: str
    mode: JudgeMode
    system: str
    user: str
    answer_prefix: str = ""
    grade_descriptions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("grade", "yesno"):
            raise InputError(f"prompt mode must be 'grade' or 'yesno', got {self.mode!r}", field="mode")
        for placeholder in ("{query}", "{document}"):
            if placeholder not in self.user:
                raise InputError(f"the user template needs a {placeholder} placeholder", field="user")

    @property
    def key(self) -> str:
        """``name/version#digest``: the prompt part of every cache key."""
        text = json.dumps([self.mode, self.system, self.user, self.answer_prefix, self.grade_descriptions])
        return f"{self.name}/{self.version}#{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def labels(self, max_grade: int) -> tuple[str, ...]:
        return grade_labels(max_grade) if self.mode == "grade" else ("yes", "no")

    def messages(self, query: str, document: str, max_grade: int) -> list[dict[str, str]]:
        """Chat messages (system, user) for a tokenizer's chat template or a chat endpoint."""
        if self.mode == "grade":
            descriptions = self.grade_descriptions or (
                UMBRELA_GRADES if max_grade == 3 else generic_grade_descriptions(max_grade))
        else:
            descriptions = ()
        user = self.user.format(query=query, document=document, scale="\n".join(descriptions),
                                max_grade=max_grade)
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": user}]

    def plain_text(self, query: str, document: str, max_grade: int) -> str:
        """The same prompt as one string, for models without a chat template."""
        body = "\n\n".join(message["content"] for message in self.messages(query, document, max_grade))
        return f"{body}\n\n{self.answer_prefix or 'Answer:'}"

    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        """Read a template from JSON: ``{"name", "version", "mode", "system", "user",
        "answer_prefix"?, "grade_descriptions"?}``."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("prompt file does not exist", path=path) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg} at line {exc.lineno})", path=path) from None
        if not isinstance(raw, dict):
            raise InputError("expected a JSON object", path=path)
        for field in ("name", "version", "mode", "system", "user"):
            if not isinstance(raw.get(field), str):
                raise InputError("missing or not a string", path=path, field=field)
        descriptions = raw.get("grade_descriptions")
        if descriptions is not None and (not isinstance(descriptions, list)
                                         or not all(isinstance(d, str) for d in descriptions)):
            raise InputError("expected a list of strings", path=path, field="grade_descriptions")
        try:
            return cls(name=raw["name"], version=raw["version"], mode=raw["mode"], system=raw["system"],
                       user=raw["user"], answer_prefix=raw.get("answer_prefix", ""),
                       grade_descriptions=tuple(descriptions) if descriptions else None)
        except InputError as error:
            raise InputError(error.message, path=path, field=error.field) from None


GRADE_PROMPT = PromptTemplate(
    name="umbrela-grade",
    version="1",
    mode="grade",
    system="You are a search quality rater judging how relevant a passage is to a search query.",
    user=("Grade the relevance of the passage to the query on a scale from 0 to {max_grade}:\n{scale}\n\n"
          "Query: {query}\n\nPassage: {document}\n\n"
          "Answer with a single digit from 0 to {max_grade} and nothing else."),
    answer_prefix="",
)

YESNO_PROMPT = PromptTemplate(
    name="relevance-yesno",
    version="1",
    mode="yesno",
    system="You are a search quality rater judging whether a passage is relevant to a search query.",
    user=("Query: {query}\n\nPassage: {document}\n\n"
          "Is the passage relevant to the query, that is, does it help answer it? Answer yes or no."),
    answer_prefix="",
)


def default_prompt(mode: JudgeMode) -> PromptTemplate:
    if mode not in ("grade", "yesno"):
        raise InputError(f"judge mode must be 'grade' or 'yesno', got {mode!r}", field="mode")
    return GRADE_PROMPT if mode == "grade" else YESNO_PROMPT
