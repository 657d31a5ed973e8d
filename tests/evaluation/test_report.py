"""Report files: Markdown, JSON (with per-query scores) and a PNG chart, all written."""

import json

import pytest

from rich.console import Console

from bixse.evaluation import compare, evaluate_run, rich_tables, write_report

QRELS = {f"q{i}": {f"d{i}": 2, f"e{i}": 1} for i in range(6)}
GOOD = {q: {f"d{q[1:]}": 2.0, f"e{q[1:]}": 1.0} for q in QRELS}
POOR = {q: {"x": 2.0, f"e{q[1:]}": 1.0} for q in QRELS}


def comparison():
    results = [evaluate_run(POOR, QRELS, name="poor", relevance_threshold=2),
               evaluate_run(GOOD, QRELS, name="good", relevance_threshold=2)]
    return compare(results, n_resamples=500)


def test_write_report_writes_all_three_files(tmp_path):
    paths = write_report(comparison(), tmp_path / "out", "toy / test", {"collection": "toy"})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["chart.png", "report.md", "results.json"]
    markdown = paths["markdown"].read_text()
    assert "grade >= 2" in markdown and "linear gain (trec_eval)" in markdown
    assert "| poor (baseline) |" in markdown and "| good |" in markdown and "Holm" in markdown
    record = json.loads(paths["json"].read_text())
    assert record["relevance_threshold"] == 2 and record["baseline"] == "poor"
    assert record["settings"] == {"collection": "toy"}
    good = next(m for m in record["models"] if m["name"] == "good")
    assert good["aggregate"]["MRR@10"] == 1.0 and good["per_query"]["MRR@10"]["q3"] == 1.0
    (test,) = [t for t in record["tests"] if t["measure"] == "MRR@10"]
    assert test["delta"] == 1.0 and test["randomization_p"] < 0.05  # e-docs are grade 1 < 2: poor scores 0
    png = paths["chart"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_rich_tables_render_scores_and_tests_whole_at_80_columns():
    console = Console(record=True, width=80)
    for table in rich_tables(comparison(), "toy"):
        console.print(table)
    text = console.export_text()
    assert "poor (baseline)" in text and "1.000†" in text and "p rand." in text and "(Holm)" in text
    assert "…" not in text  # no number or name cut short in a plain 80-column terminal
    assert "+1.000" in text and "[+1.000, +1.000]" in text  # MRR@10 delta and its CI


def test_chart_of_eight_models_stays_page_wide(tmp_path):
    import struct

    from bixse.evaluation import plot_chart

    runs = [evaluate_run(GOOD if i % 2 else POOR, QRELS, name=f"model-{i}") for i in range(8)]
    path = plot_chart(compare(runs, n_resamples=100), tmp_path / "chart.png")
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the PNG header's IHDR fields
    # 4 measures x 8 bars: 2 + 0.35 * 32 = 13.2 inches at 120 dpi (it was 38 inches before).
    assert width == pytest.approx(13.2 * 120, abs=2) and height == pytest.approx(4.5 * 120, abs=2)
