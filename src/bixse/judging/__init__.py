"""Judging: turn mined candidate pairs into graded relevance labels, durably.

Judges (``get_judge(kind, ...)``): ``llm`` (transformers causal LM, grade-token probabilities;
offline default SmolLM2), ``vllm`` (same on vLLM), ``http`` (any OpenAI-compatible endpoint),
``bi-encoder`` and ``cross-encoder`` (teachers), ``file`` (grades from a qrels file), ``dummy``
(tests). Prompts: ``PROMPTS`` (``umbrela``, ``bixse``, ...). Labels go through a SQLite WAL cache
keyed by judge identity, prompt version and text hashes (``LabelCache``, ``label_pairs``), can be
judged in shards and merged (``parse_shard``, ``merge_caches``), export to graded training pairs
(``graded_pairs``), and are checked against human grades (``agreement_report``: AUC, Kendall tau,
Cohen's kappa, calibration).

>>> from bixse.judging import BiEncoderJudge, LabelCache, label_pairs
>>> judge = BiEncoderJudge("all-MiniLM-L6-v2")
>>> with LabelCache("labels.sqlite") as cache:                       # doctest: +SKIP
...     label_pairs(judge, [("what is a shock wave", "A shock wave is ...")], cache).scores
"""

from bixse.judging.agreement import (
    AgreementReport,
    AgreementView,
    agreement_report,
    cohen_kappa,
    judge_grades,
    roc_auc,
    top_grade,
)
from bixse.judging.base import Judge, Judgement, JudgeError, Pair, Skipped
from bixse.judging.cache import LabelCache, MergeResult, merge_caches
from bixse.judging.dummy import DummyJudge
from bixse.judging.file_labels import FileJudge
from bixse.judging.http_endpoint import HTTPJudge
from bixse.judging.llm import LLMJudge
from bixse.judging.prompts import (
    BIXSE_PROMPT,
    GRADE_PROMPT,
    PROMPTS,
    UMBRELA_PROMPT,
    YESNO_PROMPT,
    PromptTemplate,
    get_prompt,
)
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
from bixse.judging.shards import parse_shard, select_shard
from bixse.judging.teacher import BiEncoderJudge, CrossEncoderJudge
from bixse.judging.vllm_backend import VLLMJudge

__all__ = [
    "AgreementReport", "AgreementView", "BIXSE_PROMPT", "BiEncoderJudge", "CrossEncoderJudge", "DummyJudge",
    "FileJudge", "GRADE_PROMPT", "HTTPJudge", "JUDGES", "Judge", "JudgeError", "JudgeFileResult", "Judgement",
    "LLMJudge", "LabelCache", "LabelingResult", "LabelingStats", "MergeResult", "PROMPTS", "Pair", "PromptTemplate",
    "Skipped", "UMBRELA_PROMPT", "VLLMJudge", "YESNO_PROMPT", "agreement_report", "cohen_kappa", "get_judge",
    "get_prompt", "graded_pairs", "judge_candidates", "judge_file", "judge_grades", "label_pairs", "merge_caches",
    "parse_shard", "roc_auc", "select_shard", "top_grade",
]
