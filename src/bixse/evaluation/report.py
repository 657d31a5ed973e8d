"""Presenting a ``Comparison``: a rich terminal table, Markdown, JSON and a PNG bar chart with
confidence-interval error bars. Every output states the measure conventions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from bixse.evaluation.comparison import Comparison
from bixse.io import atomic_write

SIGNIFICANT_MARK = "†"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def score_cell(comparison: Comparison, name: str, measure: str, separator: str = " ", digits: int = 3) -> str:
    """``mean† [low, high]``: the mean, the baseline-test mark when significant, the interval."""
    mean = comparison.result(name).aggregate[measure]
    low, high = comparison.intervals[name][measure]
    test = comparison.test(name, measure)
    mark = SIGNIFICANT_MARK if test is not None and test.significant(comparison.alpha) else ""
    return f"{mean:.{digits}f}{mark}{separator}[{low:.{digits}f}, {high:.{digits}f}]"


def _label(comparison: Comparison, name: str) -> str:
    return f"{name} (baseline)" if name == comparison.baseline and len(comparison.results) > 1 else name


def _legend(comparison: Comparison, where: str = "in brackets") -> str:
    return (f"{comparison.confidence:.0%} bootstrap CI {where}; {SIGNIFICANT_MARK} = differs from "
            f"'{comparison.baseline}' by both paired tests, Holm-adjusted p < {comparison.alpha}.")


def rich_tables(comparison: Comparison, title: str = "evaluation") -> list[Table]:
    """The scores table (mean [CI] per measure) and, with 2+ models, the tests table.

    Titles and model names are escaped: a run file ``run[bm25].trec`` is text, not rich markup.
    """
    scores = Table(title=escape(title), caption=escape(_legend(comparison, "under each mean")),
                   caption_justify="left")
    scores.add_column("model", style="bold")
    for measure in comparison.measures:
        scores.add_column(escape(measure), justify="right")
    for name in comparison.names:
        # Mean on one line, CI dimmed under it: stays readable in an 80-column terminal.
        cells = []
        for measure in comparison.measures:
            mean, ci = score_cell(comparison, name, measure).split(" ", 1)
            cells.append(f"{mean}\n[dim]{ci[1:-1].replace(', ', '–')}[/dim]")
        scores.add_row(escape(_label(comparison, name)), *cells)
    tables = [scores]
    if comparison.tests:
        tests = Table(title=escape(f"vs baseline '{comparison.baseline}'"))
        # Raw p-values are in the Markdown and JSON reports; the terminal shows the adjusted ones.
        # Two-line headers and a foldable model column keep every number whole at 80 columns.
        tests.add_column("model", overflow="fold")
        tests.add_column("measure", no_wrap=True)
        for column in ("Δ", f"{comparison.confidence:.0%} CI\nof Δ", "p t-test\n(Holm)", "p rand.\n(Holm)"):
            tests.add_column(column, justify="right", no_wrap=True)
        for test in comparison.tests:
            style = "green" if test.significant(comparison.alpha) and test.delta > 0 else (
                "red" if test.significant(comparison.alpha) else None)
            tests.add_row(escape(test.model), escape(test.measure), f"{test.delta:+.3f}",
                          f"[{test.delta_ci[0]:+.3f}, {test.delta_ci[1]:+.3f}]", _p(test.t_test_p_holm),
                          _p(test.randomization_p_holm), style=style)
        tables.append(tests)
    return tables


def to_markdown(comparison: Comparison, title: str = "Evaluation", settings: dict[str, Any] | None = None) -> str:
    """A Markdown report: conventions, settings, the scores table, and the tests table."""
    measures = comparison.measures
    lines = [f"# {title}", "", comparison.conventions(), ""]
    if settings:
        lines += ["Settings: " + ", ".join(f"{key} = `{value}`" for key, value in settings.items()), ""]
    lines += [_legend(comparison), "",
             "| model | " + " | ".join(measures) + " |", "|---|" + "---:|" * len(measures)]
    for name in comparison.names:
        lines.append(f"| {_label(comparison, name)} | " + " | ".join(score_cell(comparison, name, m) for m in measures) + " |")
    if comparison.tests:
        lines += ["", f"## Paired tests vs '{comparison.baseline}'", "",
                  "| model | measure | Δ | Δ CI | p t-test | p randomisation | p t-test (Holm) | p randomisation (Holm) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for test in comparison.tests:
            lines.append(f"| {test.model} | {test.measure} | {test.delta:+.4f} | [{test.delta_ci[0]:+.4f}, "
                         f"{test.delta_ci[1]:+.4f}] | {_p(test.t_test_p)} | {_p(test.randomization_p)} | "
                         f"{_p(test.t_test_p_holm)} | {_p(test.randomization_p_holm)} |")
    return "\n".join(lines) + "\n"


def plot_chart(comparison: Comparison, path: str | Path, title: str = "Evaluation") -> Path:
    """Grouped bars (one group per measure, one bar per model) with CI error bars, as PNG."""
    from matplotlib.figure import Figure  # Figure renders with Agg; no pyplot, no display needed

    measures, names = comparison.measures, comparison.names
    # About a third of an inch a bar, at most 14 inches: readable on a README page.
    figure = Figure(figsize=(min(14.0, max(6.0, 2.0 + 0.35 * len(measures) * len(names))), 4.5), dpi=120)
    axes = figure.add_subplot()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        means = [comparison.result(name).aggregate[m] for m in measures]
        lows = [means[j] - comparison.intervals[name][m][0] for j, m in enumerate(measures)]
        highs = [comparison.intervals[name][m][1] - means[j] for j, m in enumerate(measures)]
        positions = [j - 0.4 + width * (i + 0.5) for j in range(len(measures))]
        bars = axes.bar(positions, means, width, yerr=[lows, highs], capsize=3, label=_label(comparison, name))
        axes.bar_label(bars, labels=[f"{v:.3f}" for v in means], fontsize=7, label_type="center", color="white",
                       rotation=90)
    axes.set_xticks(range(len(measures)), measures)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score (mean over queries)")
    axes.set_title(f"{title}\nerror bars: {comparison.confidence:.0%} bootstrap CI; "
                   f"binary measures: grade >= {comparison.results[0].relevance_threshold}", fontsize=9)
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")
    return path


def write_report(comparison: Comparison, folder: str | Path, title: str = "Evaluation",
                 settings: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``results.json`` (with per-query scores) and ``chart.png``;
    ``settings`` (collection, split, search method...) are recorded in both text files."""
    folder = Path(folder)
    paths = {"markdown": folder / "report.md", "json": folder / "results.json", "chart": folder / "chart.png"}
    with atomic_write(paths["markdown"]) as handle:
        handle.write(to_markdown(comparison, title, settings))
    with atomic_write(paths["json"]) as handle:
        json.dump({"title": title, "settings": settings or {}, **comparison.to_dict()}, handle, indent=2)
    plot_chart(comparison, paths["chart"], title)
    return paths
