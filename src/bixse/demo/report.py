"""The demo's report: what was compared, what came out (said plainly), and how it was run."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from bixse.collections.model import Collection
from bixse.demo.config import DemoConfig, resolve_eval_precision
from bixse.environment import describe_cpu
from bixse.evaluation import Comparison, plot_chart, to_markdown
from bixse.evaluation.report import SIGNIFICANT_MARK, score_cell
from bixse.io import atomic_write
from bixse.training.precision import resolve_training_precision

if TYPE_CHECKING:
    from bixse.demo.pipeline import DemoResult

HEADLINE_MEASURE = "nDCG@10"
PACKAGES = ("bixse", "torch", "sentence-transformers", "transformers", "ir-measures", "bm25s")


def verdict(comparison: Comparison, model: str, measure: str = HEADLINE_MEASURE) -> str:
    """One honest sentence: ``model`` against the comparison's baseline on ``measure``."""
    test = comparison.test(model, measure)
    if test is None:
        return f"{model} is the baseline."
    mean, base = comparison.result(model).aggregate[measure], comparison.result(comparison.baseline).aggregate[measure]
    direction = "higher than" if test.delta > 0 else "lower than" if test.delta < 0 else "equal to"
    if test.significant(comparison.alpha):
        strength = f"a significant difference (Holm-adjusted p = {test.t_test_p_holm:.3g} t-test, " \
                   f"{test.randomization_p_holm:.3g} randomisation)"
    else:
        strength = f"not a significant difference (Holm-adjusted p = {test.t_test_p_holm:.3g} t-test, " \
                   f"{test.randomization_p_holm:.3g} randomisation)"
    return (f"{model}: {measure} {mean:.3f} vs {base:.3f} for {comparison.baseline}, {direction} it by "
            f"{abs(test.delta):.3f} (95% CI of the difference [{test.delta_ci[0]:+.3f}, {test.delta_ci[1]:+.3f}]); "
            f"{strength}.")


def environment() -> dict[str, str]:
    import torch

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": describe_cpu(),
            "torch threads": str(torch.get_num_threads()),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            **packages}


def _section_labels(config: DemoConfig, collection: Collection, result: DemoResult) -> list[str]:
    train_queries = len(collection.query_ids("train")) if config.max_train_queries is None else config.max_train_queries
    lines = ["## Training data", "",
             f"- Candidates: {config.miner} top {config.candidates_per_query} for {train_queries} training queries "
             f"of {collection.name}; both label sets cover exactly these pairs."]
    if "human" in result.label_counts:
        lines.append(f"- human: {result.label_counts['human']:,} pairs, score = gain / {collection.max_grade()} "
                     "(unjudged = 0).")
    if "judge" in result.label_counts:
        options = ", ".join(f"{k}={v}" for k, v in config.judge_options.items())
        lines.append(f"- judge: {result.label_counts['judge']:,} pairs from `{config.judge}` ({options}); "
                     f"{result.judge_calls:,} judge calls this run, the rest from `labels.sqlite`.")
    return lines + [""]


def _section_setup(config: DemoConfig, result: DemoResult) -> list[str]:
    lines = ["## Configuration", "", "| setting | value |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in config.to_dict().items()]
    lines += [f"| precision (ran) | `{resolve_training_precision(config.precision)}` |",
              f"| eval_precision (ran) | `{resolve_eval_precision(config.eval_precision)}` |"]
    lines += ["", "## Timings", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in result.timings_s.items()]
    if result.reused_models:
        lines += ["", f"Reused from an earlier run (same settings): {', '.join(result.reused_models)}."]
    lines += ["", "## Environment", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in environment().items()]
    return lines + [""]


def comparison_of(config: DemoConfig, result: DemoResult, model: str) -> Comparison:
    """The comparison that tests ``model``: its own label set's; BM25 and the base model: the first's."""
    for labels, comparison in result.comparisons_by_labels.items():
        if any(model == f"{loss}-{labels}" for loss in config.losses):
            return comparison
    return result.comparisons_by_labels[config.label_sources[0]]


def _section_results(config: DemoConfig, result: DemoResult) -> list[str]:
    """One table, every model; a trained model's mark compares it with InfoNCE on the same labels."""
    everything = result.comparison
    measures = everything.measures
    first = f"{config.baseline_loss}-{config.label_sources[0]}"
    conventions = (f"{everything.results[0].conventions()}. Intervals: {everything.confidence:.0%} percentile "
                   f"bootstrap over queries ({everything.n_resamples:,} resamples, seed {everything.seed}). Tests: "
                   f"paired t-test and paired randomisation test ({everything.n_resamples:,} sign flips) against "
                   f"{config.baseline_loss} trained on the same labels, Holm-corrected over the other models of "
                   "that label set, BM25 and the base model.")
    lines = ["## Results", "", conventions, "",
             f"{everything.confidence:.0%} bootstrap CI in brackets; {SIGNIFICANT_MARK} = differs from "
             f"{config.baseline_loss} trained on the same labels (bm25 and the base model: from {first}) by "
             f"both paired tests, Holm-adjusted p < {everything.alpha}.", "",
             "| model | " + " | ".join(measures) + " |", "|---|" + "---:|" * len(measures)]
    for name in everything.names:
        comparison = comparison_of(config, result, name)
        label = f"{name} (baseline)" if name == comparison.baseline else name
        lines.append(f"| {label} | " + " | ".join(score_cell(comparison, name, m) for m in measures) + " |")
    return lines + [""]


def demo_markdown(config: DemoConfig, collection: Collection, result: DemoResult) -> str:
    losses = ", ".join(config.losses)
    lines = [f"# bixse demo: {losses} on {collection.name}", "",
             f"Every model starts from `{config.base_model}` and trains for {config.max_steps} steps of "
             f"{config.batch_size} (seed {config.seed}); scored on the {config.eval_split} queries.", "",
             "## Verdict", ""]
    for labels, comparison in result.comparisons_by_labels.items():
        for loss in config.losses:
            if loss != config.baseline_loss:
                lines.append(f"- ({labels} labels) " + verdict(comparison, f"{loss}-{labels}"))
    lines += ["", "![chart](chart.png)", ""]
    lines += _section_results(config, result)
    for labels, comparison in result.comparisons_by_labels.items():
        _, _, tests = to_markdown(comparison, "tests").partition("## Paired tests")
        if tests:
            lines += [f"## Paired tests vs {comparison.baseline} ({labels} labels)", tests.split("\n", 1)[1]]
    lines += _section_labels(config, collection, result) + _section_setup(config, result)
    return "\n".join(lines)


def write_demo_report(config: DemoConfig, collection: Collection, result: DemoResult) -> tuple[Path, Path]:
    report = config.output_dir / "report.md"
    chart = plot_chart(result.comparison, config.output_dir / "chart.png",
                       f"{collection.name} {config.eval_split}: BM25, base and trained models")
    with atomic_write(report) as handle:
        handle.write(demo_markdown(config, collection, result))
    return report, chart
