"""``report/`` of an experiment folder: report.md, report.json and the figures, from finished cells.

Made from whatever has finished (any shards, any subset of the grid): every number names the
cells it came from (``report.json``: each arm's ``cells``), so it can be traced to the cell's
``result.json`` and per-split files.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bixse.experiment.aggregate import POOLED, arm_id, load_references, load_results, summarise
from bixse.experiment.claims import RULE, evaluate_claims
from bixse.experiment.config import ExperimentConfig, config_from_mapping, evaluation_settings
from bixse.io import atomic_write

REPORT_DIR = "report"


def _recorded_config(output_dir: Path) -> ExperimentConfig:
    import yaml

    text = (output_dir / "experiment.yaml").read_text(encoding="utf-8")
    return config_from_mapping(yaml.safe_load(text), output_dir / "experiment.yaml", text)


def build_summary(output_dir: Path, n_resamples: int = 2_000) -> dict[str, Any]:
    config = _recorded_config(output_dir)
    all_cells = config.cells()
    order = {cell.key: index for index, cell in enumerate(all_cells)}
    settings = evaluation_settings(config.evaluation)
    found = load_results(output_dir)
    # Only the experiment's own cells, scored as it scores: an edited grid's old cells stay out.
    results = sorted((r for r in found if r["key"] in order and r.get("evaluation_settings") == settings),
                     key=lambda r: order[r["key"]])
    measures = list(config.evaluation.measures)
    summary = summarise(results, config.baseline, measures, n_resamples)
    finished = {r["key"] for r in results}
    summary.update({
        "experiment": config.name, "primary_measure": measures[0],
        "cells_total": len(all_cells), "cells_finished": len(finished),
        "cells_ignored": sorted(r["key"] for r in found if r["key"] not in finished),
        "cells_missing": [c.key for c in all_cells if c.key not in finished],
        "references": {name: {target: record["aggregate"] for target, record in targets.items()
                              if record.get("settings") == settings}
                       for name, targets in load_references(output_dir).items()},
        "conventions": _conventions(results),
        "queries": {target: record["num_queries"] for r in results for target, record in r["evaluation"].items()},
        "environment": _environment(),
        "machines": _machines(results),
        "learned_parameters": learned_parameters(results),
        "n_resamples": n_resamples,
    })
    summary["power"] = _power(summary)
    summary["claims"] = evaluate_claims(results, config.claims, measures[0], n_resamples)
    return summary


def _conventions(results: list[dict[str, Any]]) -> str:
    """The measures' conventions, stated once for every collection (their query counts are in the table)."""
    import re

    text = next((t["conventions"] for r in results for t in r["evaluation"].values()), "")
    return re.sub(r"\d[\d,]* quer(?:y|ies) with a relevant document", "each collection's queries with a relevant "
                  "document", text)


def _environment() -> dict[str, str]:
    from bixse.environment import describe_machine

    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), **describe_machine()}


def _machines(results: list[dict[str, Any]]) -> dict[str, int]:
    """How many cells ran on each machine (CPU, GPU, torch), as the cells recorded it."""
    counts: dict[str, int] = {}
    for result in results:
        machine = result.get("machine")
        name = (f"{machine['cpu']}, GPU {machine['gpu']}, torch {machine['torch']}" if machine
                else "not recorded (cells run before bixse recorded it)")
        counts[name] = counts.get(name, 0) + 1
    return counts


def learned_parameters(results: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per arm, each learned loss scalar (BiXSE's bias) as every seed's cell ended it, in seed order."""
    found: dict[str, dict[str, list[float]]] = {}
    for result in sorted(results, key=lambda r: r["seed"]):
        for name, value in (result.get("training", {}).get("learned_loss_parameters") or {}).items():
            found.setdefault(arm_id(result["arm"]), {}).setdefault(name, []).append(value)
    return found


def _learned_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("learned_parameters"):
        return []
    lines = ["## Learned loss parameters", "", "What the loss's own parameters ended at (each seed's cell; "
             "cells trained before bixse recorded them are not listed):", ""]
    for arm, parameters in summary["learned_parameters"].items():
        lines.append(f"- {arm}: " + "; ".join(f"{name} " + ", ".join(f"{v:.4f}" for v in values)
                                              for name, values in parameters.items()))
    return lines + [""]


def _power(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Half-width of the pooled interval of each untransformed arm's difference from its baseline."""
    measure = summary["primary_measure"]
    rows = []
    for comparison in summary["comparisons"]:
        if comparison["transform"] != "none":
            continue
        low, high = comparison["scopes"][POOLED][measure]["ci"]
        rows.append({"arm": comparison["arm"], "seeds": len(comparison["seeds"]),
                     "half_width": (high - low) / 2})
    return rows


# --- markdown ----------------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def _comparison_of(summary: dict[str, Any], arm: str) -> dict[str, Any] | None:
    return next((c for c in summary["comparisons"] if c["arm"] == arm), None)


def pooled_table(summary: dict[str, Any]) -> list[str]:
    measure = summary["primary_measure"]
    lines = [f"| arm (loss, labels, transform, batch, steps) | seeds | {measure} mean ± sd [95% CI] | "
             f"Δ vs {summary['baseline']} [95% CI] | p boot / rand (Holm) |", "|---|---:|---|---|---|"]
    for arm in summary["arms"]:
        score = arm["scores"][POOLED][measure]
        row = (f"| {arm['id']} | {len(arm['seeds'])} | {_fmt(score['mean'])} ± {score['sd']:.3f} "
               f"[{_fmt(score['ci'][0])}, {_fmt(score['ci'][1])}] |")
        comparison = _comparison_of(summary, arm["id"])
        if comparison is None:
            row += " (baseline) | |" if arm["loss"] == summary["baseline"] else " no baseline run | |"
        else:
            test = comparison["scopes"][POOLED][measure]
            mark = " †" if test["significant"] else ""
            row += (f" {_signed(test['delta'])}{mark} [{_signed(test['ci'][0])}, {_signed(test['ci'][1])}] | "
                    f"{test['boot_p_holm']:.3g} / {test['rand_p_holm']:.3g} |")
        lines.append(row)
    return lines


def collection_table(summary: dict[str, Any]) -> list[str]:
    measure = summary["primary_measure"]
    targets = list(dict.fromkeys(t for arm in summary["arms"] for t in arm["targets"]))
    lines = ["| model | " + " | ".join(targets) + " | pooled |", "|---|" + "---:|" * (len(targets) + 1),
             "| *test queries* | " + " | ".join(f"*{summary['queries'].get(t, '')}*" for t in targets) + " | |"]
    for name, scores in summary["references"].items():
        values = [scores.get(t, {}).get(measure) for t in targets]
        known = [v for v in values if v is not None]
        pooled = sum(known) / len(known) if len(known) == len(values) else None
        lines.append(f"| {name} (no training) | " + " | ".join("" if v is None else _fmt(v) for v in values)
                     + f" | {'' if pooled is None else _fmt(pooled)} |")
    for arm in summary["arms"]:
        comparison = _comparison_of(summary, arm["id"])
        cells = []
        for target in [*targets, POOLED]:
            if target not in arm["scores"]:
                cells.append("")
                continue
            mark = ""
            if comparison is not None and comparison["scopes"].get(target, {}).get(measure, {}).get("significant"):
                mark = " †"
            cells.append(_fmt(arm["scores"][target][measure]["mean"]) + mark)
        lines.append(f"| {arm['id']} | " + " | ".join(cells) + " |")
    return lines


def _single_seed_caveat(summary: dict[str, Any]) -> list[str]:
    if not any(len(arm["seeds"]) == 1 for arm in summary["arms"]):
        return []
    return ["Arms with one seed so far: their intervals and tests resample queries only and take the trained "
            "model as fixed; the seed (data order) moves a model's score too, so read a single-seed "
            "difference as provisional until more seeds have run.", ""]


def render_markdown(summary: dict[str, Any], figures: list[str]) -> str:
    measure = summary["primary_measure"]
    env = summary["environment"]
    lines = [f"# Experiment `{summary['experiment']}`", "",
             f"{summary['cells_finished']} of {summary['cells_total']} cells finished; made {env['date']} on "
             f"{env['cpu']}, GPU {env['gpu']}, Python {env['python']}, torch {env['torch']}, "
             f"sentence-transformers {env['sentence-transformers']}. Cells ran on: "
             + "; ".join(f"{name} ({count})" for name, count in summary["machines"].items()) + ".", "",
             f"Scores: {summary['conventions']}. Pooled = macro mean over the collections an arm was evaluated "
             "on. Intervals: 95% percentile bootstrap, resampling seeds and, within each collection, queries "
             f"({summary['n_resamples']:,} resamples). Δ: the arm minus the baseline ({summary['baseline']}) on "
             "the same labels, transform, batch, budget and seeds. Tests of Δ: the two-level bootstrap above "
             "(p = twice the share of resamples on the far side of 0), which carries the seeds' spread, and a "
             "paired sign-flip randomisation test of the same macro mean (each query weighted 1 / (collections x "
             "its collection's queries), differences averaged over seeds); Holm-corrected across all "
             "comparisons of a scope; † = both adjusted p < 0.05.", "",
             *_single_seed_caveat(summary),
             f"## Pooled ({measure})", "", *pooled_table(summary), "",
             f"## Per collection ({measure}, mean over seeds)", "", *collection_table(summary), ""]
    if summary["claims"]:
        lines += ["## Claims", "", f"Each claim says its arm beats the other on the pooled {measure}: {RULE}.", "",
                  *[f"- {claim['sentence']}" for claim in summary["claims"]], ""]
    if summary["power"]:
        lines += ["## Power", "", "Half-width of the 95% interval of the pooled difference from the baseline "
                  "(untransformed labels):", ""]
        lines += [f"- {row['arm']}: ±{row['half_width']:.4f} ({row['seeds']} seed(s))" for row in summary["power"]]
        lines.append("")
    lines += _learned_lines(summary)
    if figures:
        lines += ["## Figures", "", *[f"![{name}]({name})" for name in figures], ""]
    if summary["cells_ignored"]:
        lines += [f"{len(summary['cells_ignored'])} result(s) in the folder are not cells of this experiment as it "
                  "stands now (an edited grid, or other evaluation settings) and are left out.", ""]
    if summary["cells_missing"]:
        lines += [f"## Not yet run ({len(summary['cells_missing'])} cells)", "",
                  *[f"- `{key}`" for key in summary["cells_missing"][:40]]]
        if len(summary["cells_missing"]) > 40:
            lines.append(f"- ... and {len(summary['cells_missing']) - 40} more")
        lines.append("")
    return "\n".join(lines)


# --- figures -----------------------------------------------------------------------------------

def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)


def _curve_figure(summary: dict[str, Any], kind: str, path: Path) -> bool:
    """Pooled primary measure against the transform's value (none = 0 for flips), a line per loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measure = summary["primary_measure"]
    lines: dict[str, list[tuple[float, float, float, float]]] = {}
    for arm in summary["arms"]:
        spec = arm["transform_spec"]
        if spec["kind"] == kind or (kind == "flip" and spec["kind"] == "none"):
            x = spec["value"] if spec["kind"] == kind else 0.0
            score = arm["scores"][POOLED][measure]
            label = f"{arm['loss']} ({arm['labels']})"
            lines.setdefault(label, []).append((x, score["mean"], *score["ci"]))
    lines = {label: sorted(points) for label, points in lines.items() if len(points) >= 2}
    if not lines:
        return False
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for label, points in sorted(lines.items()):
        xs, means, lows, highs = zip(*points)
        axis.plot(xs, means, marker="o", label=label)
        axis.fill_between(xs, lows, highs, alpha=0.15)
    axis.set_xlabel({"flip": "label flip probability p", "cutoff": "relevance cutoff c (pairs below dropped)",
                     "binarize": "binarisation threshold t"}[kind])
    axis.set_ylabel(f"pooled {measure}")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)
    return True


def _points_by_labels(axis: Any, rows: list[tuple[str, str, dict[str, Any]]], labels: list[str]) -> None:
    """A marker per (loss, label source) with its 95% interval, losses side by side at each source."""
    losses = list(dict.fromkeys(loss for loss, _, _ in rows))
    for offset, loss in enumerate(losses):
        mine = [(labels.index(source), value) for name, source, value in rows if name == loss]
        xs = [x + (offset - (len(losses) - 1) / 2) * 0.15 for x, _ in mine]
        centre = [value["centre"] for _, value in mine]
        errors = [[c - value["ci"][0] for c, (_, value) in zip(centre, mine)],
                  [value["ci"][1] - c for c, (_, value) in zip(centre, mine)]]
        axis.errorbar(xs, centre, yerr=errors, fmt="o", capsize=3, label=loss)
    axis.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)


def _labels_figure(summary: dict[str, Any], grid: str, path: Path) -> bool:
    """Per label source of one grid (untransformed labels): the pooled primary measure of each loss,
    and each loss's difference from the baseline loss, with 95% intervals: which labels train the
    better retriever, and whether a loss's margin changes with the labels' quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measure = summary["primary_measure"]
    arms = [arm for arm in summary["arms"] if arm["grid"] == grid and arm["transform"] == "none"]
    labels = list(dict.fromkeys(arm["labels"] for arm in arms))
    if len(labels) < 2:
        return False
    scores = [(arm["loss"], arm["labels"], {"centre": arm["scores"][POOLED][measure]["mean"],
                                            "ci": arm["scores"][POOLED][measure]["ci"]}) for arm in arms]
    ids = {arm["id"] for arm in arms}
    deltas = [(c["loss"], c["labels"], {"centre": c["scopes"][POOLED][measure]["delta"],
                                        "ci": c["scopes"][POOLED][measure]["ci"]})
              for c in summary["comparisons"] if c["arm"] in ids]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    _points_by_labels(left, scores, labels)
    left.set_ylabel(f"pooled {measure}")
    if deltas:
        _points_by_labels(right, deltas, labels)
        right.axhline(0, color="grey", linewidth=1)
    right.set_ylabel(f"pooled {measure} − {summary['baseline']}")
    figure.supxlabel(f"training labels (grid {grid})", fontsize=10)
    figure.tight_layout()
    _save(figure, path)
    return True


def _figures(summary: dict[str, Any], folder: Path) -> list[str]:
    """Draw every figure the finished cells support; return their file names."""
    names = [f"{kind}.png" for kind in ("flip", "cutoff", "binarize")
             if _curve_figure(summary, kind, folder / f"{kind}.png")]
    grids = dict.fromkeys(arm["grid"] for arm in summary["arms"])
    return names + [f"labels-{grid}.png" for grid in grids if _labels_figure(summary, grid, folder / f"labels-{grid}.png")]


def write_report(output_dir: str | Path, n_resamples: int = 2_000) -> dict[str, Any]:
    """Write ``report/report.md``, ``report.json`` and the figures; return the summary (with its figures)."""
    output = Path(output_dir)
    summary = build_summary(output, n_resamples)
    folder = output / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    summary["figures"] = _figures(summary, folder)
    with atomic_write(folder / "report.json") as handle:
        json.dump(summary, handle, indent=1)
    with atomic_write(folder / "report.md") as handle:
        handle.write(render_markdown(summary, summary["figures"]))
    return summary


def write_experiment_report(output_dir: str | Path, n_resamples: int = 2_000) -> Path:
    """Write ``report/report.md``, ``report.json`` and the figures; return report.md's path."""
    write_report(output_dir, n_resamples)
    return Path(output_dir) / REPORT_DIR / "report.md"
