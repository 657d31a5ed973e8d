"""Evaluation: score runs on graded qrels (ir_measures), compare models with paired tests and
confidence intervals, and report (terminal, Markdown, JSON, PNG).

>>> from bixse.evaluation import evaluate_model, evaluate_run
>>> result = evaluate_model("bm25", "cranfield", "test")
>>> sorted(result.aggregate)
['MAP', 'MRR@10', 'R@100', 'nDCG@10']
"""

from bixse.evaluation.comparison import Comparison, PairedTest, compare
from bixse.evaluation.measures import (
    DEFAULT_MEASURES,
    DEFAULT_RELEVANCE_THRESHOLD,
    EvaluationResult,
    evaluate_run,
    to_ir_measure,
)
from bixse.evaluation.pipeline import (
    evaluate_model,
    evaluate_models,
    evaluate_run_files,
    read_qrels_file,
    retrieve,
)
from bixse.evaluation.report import plot_chart, rich_tables, to_markdown, write_report
from bixse.evaluation.significance import (
    bootstrap_ci,
    holm_correction,
    paired_randomization_test,
    paired_t_test,
)

__all__ = [
    "DEFAULT_MEASURES", "DEFAULT_RELEVANCE_THRESHOLD", "Comparison", "EvaluationResult", "PairedTest",
    "bootstrap_ci", "compare", "evaluate_model", "evaluate_models", "evaluate_run", "evaluate_run_files",
    "holm_correction", "paired_randomization_test", "paired_t_test", "plot_chart", "read_qrels_file",
    "retrieve", "rich_tables", "to_ir_measure", "to_markdown", "write_report",
]
