"""Versioned prompt templates for LLM judges: a graded scale (0-3 by default) or yes/no.

The cache keys labels by ``PromptTemplate.key``: the declared ``name/version`` plus a digest
of the template text, so editing a template without bumping its version still cannot reuse
labels made with the old wording.

Built-ins (``PROMPTS``, ``--prompt NAME``; ``get_prompt`` also reads a JSON file):

- ``umbrela``: UMBRELA's zero-shot prompt (Upadhyay et al., 2024, arXiv 2406.06519), the open
  reproduction of the Bing relevance-assessor prompt of Thomas et al. (2023, arXiv 2309.10621):
  grades 0-3, score = g / 3, the answer read after ``##final score:``.
- ``bixse``: the BiXSE paper's prompt (Tsirigotis et al., 2025, arXiv 2508.06781): grades 1-4
  (1 Irrelevant, 2 Topical Relevance, 3 Partial Answer, 4 Exact Answer), score = (g - 1) / 3.
- ``umbrela-grade`` (the default): UMBRELA's grade descriptions trimmed to what a small model
  can follow, on any 0..G scale (``--max-grade``), score = g / G.
- ``relevance-yesno``: score = P(yes).

Each prompt ends with its answer prefix (after the chat template's assistant turn opens, or at
the end of the plain text), so the grade is the very next token; its probabilities give the
expected grade (Zhuang et al., 2024, "Beyond Yes and No: Improving Zero-Shot LLM Rankers via
Scoring Fine-Grained Relevance Labels", NAACL; see ``bixse.judging.scoring``).

A grade prompt either names a fixed scale (``grade_scale``; asking it for another top grade is
an ``InputError``) or names whatever scale it is given through ``{scale}`` / ``{max_grade}``.
"""

from __future__ import annotations

import hashlib
import json
import string
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
# The top grade of a prompt that names whatever scale it is given, when none is asked for.
DEFAULT_MAX_GRADE = 3
PLACEHOLDERS = frozenset({"query", "document", "scale", "max_grade", "min_grade"})


def grade_labels(max_grade: int, min_grade: int = 0) -> tuple[str, ...]:
    """The answer labels of a ``min_grade``..``max_grade`` scale: ``("0", "1", ..., str(max_grade))``."""
    if not 1 <= max_grade <= MAX_SUPPORTED_GRADE:
        raise InputError(f"max grade must be between 1 and {MAX_SUPPORTED_GRADE} (grades are read as one "
                         f"digit token), got {max_grade}", field="max_grade")
    if not 0 <= min_grade < max_grade:
        raise InputError(f"the lowest grade must be in 0..{max_grade - 1}, got {min_grade}", field="grade_scale")
    return tuple(str(grade) for grade in range(min_grade, max_grade + 1))


def generic_grade_descriptions(max_grade: int) -> tuple[str, ...]:
    """Descriptions for a scale other than 0-3: both ends named, the middle ordered."""
    lines = [f"{max_grade} = perfectly relevant: the passage contains the exact answer to the query."]
    lines += [f"{grade} = partially relevant (a higher grade is more relevant)." for grade in range(max_grade - 1, 0, -1)]
    lines.append("0 = irrelevant: the passage has nothing to do with the query.")
    return tuple(lines)


def _placeholders(template: str, field: str) -> set[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InputError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}", field=field) from None
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise InputError(f"unknown placeholder {{{unknown[0]}}} (known: "
                         f"{', '.join('{' + name + '}' for name in sorted(PLACEHOLDERS))})", field=field)
    return names


@dataclass(frozen=True)
class PromptTemplate:
    """A judge prompt: ``system`` and ``user`` texts with ``{query}``, ``{document}``,
    ``{scale}`` (the grade descriptions), ``{max_grade}`` and ``{min_grade}`` placeholders.

    ``answer_prefix`` is appended after the assistant turn opens (e.g. ``"##final score:"``), so
    the next token is the answer. ``grade_scale`` is ``(lowest, highest)`` for a prompt whose
    text names one fixed scale (UMBRELA's 0-3, BiXSE's 1-4); ``None`` for one that names any
    0..G scale through ``{scale}`` or ``{max_grade}``. ``grade_descriptions`` overrides the scale
    text (best grade first); ``None`` means UMBRELA's for 0-3 and generic ones otherwise.
    ``source`` says where the wording comes from (not part of the key: the texts are).
    """

    name: str
    version: str
    mode: JudgeMode
    system: str
    user: str
    answer_prefix: str = ""
    grade_descriptions: tuple[str, ...] | None = None
    grade_scale: tuple[int, int] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("grade", "yesno"):
            raise InputError(f"prompt mode must be 'grade' or 'yesno', got {self.mode!r}", field="mode")
        names = _placeholders(self.user, "user")
        for name in ("query", "document"):
            if name not in names:
                raise InputError(f"the user template needs a {{{name}}} placeholder", field="user")
        if self.mode != "grade":
            return
        if self.grade_scale is not None:
            low, high = self.grade_scale
            grade_labels(high, low)
            if self.grade_descriptions is not None and len(self.grade_descriptions) != high - low + 1:
                raise InputError(f"{len(self.grade_descriptions)} grade descriptions for the {high - low + 1} "
                                 f"grades {low}-{high}", field="grade_descriptions")
        elif not names & {"scale", "max_grade"}:
            raise InputError("a grade prompt must name its scale: put {scale} or {max_grade} in the user "
                             "template, or declare the grades its text names as grade_scale [lowest, highest]",
                             field="grade_scale")

    @property
    def key(self) -> str:
        """``name/version#digest``: the prompt part of every cache key."""
        parts: list[object] = [self.mode, self.system, self.user, self.answer_prefix, self.grade_descriptions]
        if self.grade_scale is not None:  # appended only when set, so older prompts keep their keys
            parts.append(list(self.grade_scale))
        text = json.dumps(parts)
        return f"{self.name}/{self.version}#{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def scale(self, max_grade: int | None = None) -> tuple[int, int]:
        """``(lowest, highest)`` grade the judge asks for: the prompt's own scale when it names
        one (``max_grade`` must then be its top or ``None``), else ``(0, max_grade or 3)``.

        Raises ``InputError`` (field ``max_grade``) for a scale the prompt does not name.
        """
        if self.grade_scale is not None:
            low, high = self.grade_scale
            if max_grade is not None and max_grade != high:
                raise InputError(f"prompt '{self.name}' names grades {low}-{high}; a scale up to {max_grade} is "
                                 f"one it does not name (leave --max-grade out, or pass {high})", field="max_grade")
            return low, high
        top = DEFAULT_MAX_GRADE if max_grade is None else max_grade
        grade_labels(top)
        if self.mode == "grade" and self.grade_descriptions is not None and len(self.grade_descriptions) != top + 1:
            raise InputError(f"prompt '{self.name}' describes {len(self.grade_descriptions)} grades, not the "
                             f"{top + 1} of 0-{top}", field="max_grade")
        return 0, top

    def top_grade(self, max_grade: int | None = None) -> int:
        """The top grade a judge using this prompt works with (``max_grade`` checked against the
        prompt's scale; a yes/no prompt keeps it, default 3, only for the judge's identity)."""
        if self.mode != "grade":
            return DEFAULT_MAX_GRADE if max_grade is None else max_grade
        return self.scale(max_grade)[1]

    def labels(self, max_grade: int | None = None) -> tuple[str, ...]:
        """The answer labels: the grades of ``scale(max_grade)``, or ``("yes", "no")``."""
        if self.mode != "grade":
            return ("yes", "no")
        low, high = self.scale(max_grade)
        return grade_labels(high, low)

    def messages(self, query: str, document: str, max_grade: int | None = None) -> list[dict[str, str]]:
        """Chat messages (system, user) for a tokenizer's chat template or a chat endpoint."""
        if self.mode == "grade":
            low, high = self.scale(max_grade)
            descriptions = self.grade_descriptions or (
                UMBRELA_GRADES if (low, high) == (0, 3) else generic_grade_descriptions(high))
        else:
            low, high, descriptions = 0, DEFAULT_MAX_GRADE if max_grade is None else max_grade, ()
        user = self.user.format(query=query, document=document, scale="\n".join(descriptions), max_grade=high,
                                min_grade=low)
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": user}]

    def plain_text(self, query: str, document: str, max_grade: int | None = None) -> str:
        """The same prompt as one string, for models without a chat template."""
        body = "\n\n".join(message["content"] for message in self.messages(query, document, max_grade))
        return f"{body}\n\n{self.answer_prefix or 'Answer:'}"

    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        """Read a template from JSON: ``{"name", "version", "mode", "system", "user",
        "answer_prefix"?, "grade_descriptions"?, "grade_scale"? [lowest, highest], "source"?}``."""
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
        scale = raw.get("grade_scale")
        if scale is not None and (not isinstance(scale, list) or len(scale) != 2
                                  or not all(isinstance(g, int) and not isinstance(g, bool) for g in scale)):
            raise InputError("expected [lowest, highest] integer grades, e.g. [0, 3]", path=path, field="grade_scale")
        for field in ("answer_prefix", "source"):
            if not isinstance(raw.get(field, ""), str):
                raise InputError("expected a string", path=path, field=field)
        try:
            return cls(name=raw["name"], version=raw["version"], mode=raw["mode"], system=raw["system"],
                       user=raw["user"], answer_prefix=raw.get("answer_prefix", ""),
                       grade_descriptions=tuple(descriptions) if descriptions else None,
                       grade_scale=(scale[0], scale[1]) if scale is not None else None,
                       source=raw.get("source", ""))
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

# UMBRELA's zero-shot Bing prompt, copied from castorini/umbrela @ 16cba3ebdfb79477850196695e06eef5ce96f339,
# src/umbrela/prompts/qrel_zeroshot_bing.txt (Apache-2.0), character for character (its trailing
# spaces included), with one change: its {passage} placeholder is bixse's {document}; the
# rendered text is the same. Diff it against the upstream file when UMBRELA updates it. The
# system turn is the one UMBRELA's GPT judge sends (src/umbrela/gpt_judge.py). UMBRELA generates
# and parses "##final score: N"; here "##final score:" is the answer prefix, so the grade is the
# next token and its probabilities give the expected grade.
UMBRELA_PROMPT = PromptTemplate(
    name="umbrela",
    version="1",
    mode="grade",
    system="You are a helpful assistant.",
    user=("Given a query and a passage, you must provide a score on an integer scale of 0 to 3 with the "
          "following meanings:\n"
          "0 = represent that the passage has nothing to do with the query, \n"
          "1 = represents that the passage seems related to the query but does not answer it, \n"
          "2 = represents that the passage has some answer for the query, but the answer may be a bit unclear, "
          "or hidden amongst extraneous information and \n"
          "3 = represents that the passage is dedicated to the query and contains the exact answer.\n"
          "\n"
          "Important Instruction: Assign category 1 if the passage is somewhat related to the topic but not "
          "completely, category 2 if passage presents something very important related to the entire topic but "
          "also has some extra information and category 3 if the passage only and entirely refers to the topic. "
          "If none of the above satisfies give it category 0.\n"
          "\n"
          "Query: {query}\n"
          "Passage: {document}\n"
          "\n"
          "Split this problem into steps:\n"
          "Consider the underlying intent of the search.\n"
          "Measure how well the content matches a likely intent of the query (M).\n"
          "Measure how trustworthy the passage is (T).\n"
          "Consider the aspects above and the relative importance of each, and decide on a final score (O). "
          "Final score must be an integer value only.\n"
          "Do not provide any code in result. Provide each score in the format of: ##final score: score without "
          "providing any reasoning."),
    answer_prefix="##final score:",
    grade_scale=(0, 3),
    source=("UMBRELA (Upadhyay et al., 2024, arXiv 2406.06519), castorini/umbrela "
            "src/umbrela/prompts/qrel_zeroshot_bing.txt; the Bing prompt of Thomas et al. (2023, arXiv 2309.10621)"),
)

# The BiXSE paper's grading question and scale (Tsirigotis et al., 2025, arXiv 2508.06781), as
# the paper quotes them. The layout around them (the query and document lines, the answer
# prefix) is bixse's: the paper does not print its full template.
BIXSE_PROMPT = PromptTemplate(
    name="bixse",
    version="1",
    mode="grade",
    system="",
    user=("Query: {query}\n"
          "Document: {document}\n"
          "\n"
          "On a scale from 1 to 4, how well does this document answer the query?\n"
          "1 \u2013 Irrelevant\n"
          "2 \u2013 Topical Relevance\n"
          "3 \u2013 Partial Answer\n"
          "4 \u2013 Exact Answer"),
    answer_prefix="Score:",
    grade_scale=(1, 4),
    source="BiXSE (Tsirigotis et al., 2025, arXiv 2508.06781), its LLM grading prompt",
)

# The built-ins by --prompt name; their cache keys carry name, version and a digest of the text.
PROMPTS: dict[str, PromptTemplate] = {prompt.name: prompt for prompt in
                                      (UMBRELA_PROMPT, BIXSE_PROMPT, GRADE_PROMPT, YESNO_PROMPT)}


def get_prompt(name_or_path: str | Path) -> PromptTemplate:
    """A built-in prompt by name (``umbrela``, ``bixse``, ``umbrela-grade``, ``relevance-yesno``),
    else a template JSON file (see ``PromptTemplate.from_file``)."""
    if str(name_or_path) in PROMPTS:
        return PROMPTS[str(name_or_path)]
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise InputError(f"unknown prompt {str(name_or_path)!r}: not a built-in ({', '.join(PROMPTS)}) "
                         "and no such template file", field="prompt")
    return PromptTemplate.from_file(path)


def default_prompt(mode: JudgeMode) -> PromptTemplate:
    if mode not in ("grade", "yesno"):
        raise InputError(f"judge mode must be 'grade' or 'yesno', got {mode!r}", field="mode")
    return GRADE_PROMPT if mode == "grade" else YESNO_PROMPT
