"""The judge registry: ``--judge KIND`` on the command line, ``get_judge(kind, ...)`` in code."""

from __future__ import annotations

import inspect
from typing import Any

from bixse.errors import InputError
from bixse.judging.base import Judge
from bixse.judging.dummy import DummyJudge
from bixse.judging.file_labels import FileJudge
from bixse.judging.http_endpoint import HTTPJudge
from bixse.judging.llm import LLMJudge
from bixse.judging.teacher import BiEncoderJudge, CrossEncoderJudge
from bixse.judging.vllm_backend import VLLMJudge

JUDGES: dict[str, type[Judge]] = {
    "llm": LLMJudge,
    "bi-encoder": BiEncoderJudge,
    "cross-encoder": CrossEncoderJudge,
    "http": HTTPJudge,
    "vllm": VLLMJudge,
    "file": FileJudge,
    "dummy": DummyJudge,
}


# Options of other judges that vllm.LLM takes as well (its sampling seed, its device).
ENGINE_KEYWORDS = frozenset({"seed", "device"})


def judge_options(kind: str) -> list[str]:
    """The keyword options a judge kind accepts."""
    parameters = inspect.signature(JUDGES[kind].__init__).parameters
    return [name for name, p in parameters.items() if name != "self" and p.kind is not p.VAR_KEYWORD]


def get_judge(kind: str, **options: Any) -> Judge:
    """Build a judge by kind; options set to ``None`` are left at the judge's default.

    Raises ``InputError`` for an unknown kind or an option the kind does not take, listing
    the valid ones.

    Example::

        get_judge("bi-encoder", model="all-MiniLM-L6-v2")
        get_judge("llm", mode="yesno")                          # offline SmolLM2
    """
    if kind not in JUDGES:
        raise InputError(f"unknown judge '{kind}' (known: {', '.join(JUDGES)})", field="judge")
    options = {name: value for name, value in options.items() if value is not None}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(JUDGES[kind].__init__).parameters.values())
    valid = judge_options(kind)
    unknown = [name for name in options if name not in valid]
    if accepts_any:
        # vLLM's engine takes any keyword; another judge's option (--precision, --timeout) is a
        # mistake to name now, not a TypeError from vllm.LLM at the first batch.
        others = {name for other in JUDGES if other != kind for name in judge_options(other)} - ENGINE_KEYWORDS
        unknown = [name for name in unknown if name in others]
    if unknown:
        raise InputError(f"judge '{kind}' takes no option {', '.join(map(repr, unknown))} "
                         f"(valid: {', '.join(valid)})", field="judge")
    return JUDGES[kind](**options)
