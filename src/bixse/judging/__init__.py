"""Judging: turn mined candidate pairs into graded relevance labels, durably.

Judges (``get_judge(kind, ...)``): ``llm`` (transformers causal LM, grade-token probabilities;
offline default SmolLM2), ``vllm`` (same on vLLM), ``http`` (any OpenAI-compatible endpoint),
``bi-encoder`` and ``cross-encoder`` (teachers), ``dummy`` (tests). Labels go through a
SQLite WAL cache keyed by judge identity, prompt version and text hashes
(``LabelCache``, ``label_pairs``), export to graded training pairs (``graded_pairs``), and are
checked against human grades (``agreement_report``).

>>> from bixse.judging import BiEncoderJudge, LabelCache, label_pairs
>>> judge = BiEncoderJudge("all-MiniLM-L6-v2")
>>> with LabelCache("labels.sqlite") as cache:                       # doctest: +SKIP
...     label_pairs(judge, [("what is a shock wave", "A shock wave is ...")], cache).scores
"""

from bixse.judging.agreement import AgreementReport, AgreementView, agreement_report, roc_auc
from bixse.judging.base import Judge, Judgement, JudgeError, Pair, Skipped
from bixse.judging.cache import LabelCache
from bixse.judging.dummy import DummyJudge
from bixse.judging.http_endpoint import HTTPJudge
from bixse.judging.llm import LLMJudge
from bixse.judging.prompts import GRADE_PROMPT, YESNO_PROMPT, PromptTemplate
from bixse.judging.registry import JUDGES, get_judge
from bixse.judging.runner import (
    JudgeFileResult,
    LabelingResult,
    LabelingStats,
    graded_pairs,
    judge_candidates,
    judge_file,
    label_pairs,
)
from bixse.judging.teacher import BiEncoderJudge, CrossEncoderJudge
from bixse.judging.vllm_backend import VLLMJudge

__all__ = [
    "AgreementReport", "AgreementView", "BiEncoderJudge", "CrossEncoderJudge", "DummyJudge", "GRADE_PROMPT",
    "HTTPJudge", "JUDGES", "Judge", "JudgeError", "JudgeFileResult", "Judgement", "LLMJudge", "LabelCache",
    "LabelingResult", "LabelingStats", "Pair", "PromptTemplate", "Skipped", "VLLMJudge", "YESNO_PROMPT",
    "agreement_report", "get_judge", "graded_pairs", "judge_candidates", "judge_file", "label_pairs", "roc_auc",
]
