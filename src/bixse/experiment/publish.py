"""Publish an experiment's results: its report and every finished cell's records into a folder
that is kept (``docs/experiments/<name>``), and the results as a section of a README.

What is copied is what the numbers come from and small: the experiment file, ``report/``, each
finished cell's ``cell.json``, ``result.json`` (per-query scores) and ``train-config.yaml``, and
the references' per-split scores. Models, embeddings and labels stay behind. The README section
replaces the text between ``<!-- experiment:start -->`` and ``<!-- experiment:end -->``; prose
a person wrote about the results belongs outside the markers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bixse.errors import InputError
from bixse.experiment.claims import RULE
from bixse.experiment.report import REPORT_DIR, collection_table, pooled_table, write_report
from bixse.io import atomic_write

START, END = "<!-- experiment:start -->", "<!-- experiment:end -->"
CELL_FILES = ("cell.json", "result.json", "train-config.yaml")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as handle:
        handle.write(source.read_bytes())


def copy_records(output_dir: Path, docs_dir: Path, cells: list[str]) -> None:
    """Copy the experiment file, the report, the references' scores and ``cells``' records; drop
    published cells that are not among ``cells`` (a grid edited since), so the folder is the report's."""
    _copy(output_dir / "experiment.yaml", docs_dir / "experiment.yaml")
    for path in sorted((output_dir / REPORT_DIR).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            _copy(path, docs_dir / REPORT_DIR / path.name)
    for path in sorted((output_dir / "references").glob("*/eval/*.json")):
        _copy(path, docs_dir / path.relative_to(output_dir))
    for cell in cells:
        for name in CELL_FILES:
            if (output_dir / "cells" / cell / name).is_file():
                _copy(output_dir / "cells" / cell / name, docs_dir / "cells" / cell / name)
    published = docs_dir / "cells"
    for folder in sorted(published.iterdir()) if published.is_dir() else []:
        if folder.name not in cells:
            shutil.rmtree(folder)


def readme_section(summary: dict[str, Any], docs_link: str) -> str:
    """The results as a README section: what ran, the tables, the figures and the claims' sentences."""
    measure = summary["primary_measure"]
    env = summary["environment"]
    seeds = sorted({seed for arm in summary["arms"] for seed in arm["seeds"]})
    figures = summary.get("figures", [])
    lines = [f"### What ran so far ({summary['cells_finished']} of {summary['cells_total']} cells; "
             f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds)) or 'none'})", "",
             f"Made by `bixse experiment publish` on {env['date']}: {env['cpu']}, GPU {env['gpu']}, torch "
             f"{env['torch']}. Every number is in `{docs_link}/` (`report/report.md`, `report/report.json` and each "
             "cell's `result.json`, per query).", "",
             f"Pooled over the collections (macro mean of {measure}; Δ and tests against "
             f"{summary['baseline']} on the same labels, transform and seeds, Holm over the comparisons):", "",
             *pooled_table(summary), "",
             f"Per collection ({measure}, mean over seeds; † = that collection's difference from "
             f"{summary['baseline']} is significant by both tests after Holm):", "",
             *collection_table(summary), ""]
    lines += [f"![{name[:-4]}]({docs_link}/{REPORT_DIR}/{name})" for name in figures]
    if figures:
        lines.append("")
    if summary["claims"]:
        lines += [f"The claims, one sentence each ({RULE}; intervals over queries, and over seeds where an arm "
                  "has more than one):", "", *[f"- {c['sentence']}" for c in summary["claims"]], ""]
    if summary["power"]:
        widths = "; ".join(f"{' · '.join(row['arm'].split(' · ')[:2])} ±{row['half_width']:.4f} ({row['seeds']} seed"
                           f"{'s' if row['seeds'] > 1 else ''})" for row in summary["power"])
        lines.append(f"Power (half-width of the 95% interval of the pooled {measure} difference from "
                     f"{summary['baseline']}, labels untransformed): {widths}.")
    return "\n".join(lines).rstrip() + "\n"


def _around_section(readme: Path) -> tuple[str, str]:
    """The README's text up to its start marker line and from its end marker line (markers named in
    prose, inside a line, do not count)."""
    lines = (readme.read_text(encoding="utf-8") if readme.is_file() else "").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == START]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or starts[0] > ends[0]:
        raise InputError(f"needs one {START} line followed by one {END} line", path=readme)
    return "".join(lines[:starts[0]]), "".join(lines[ends[0] + 1:])


def replace_section(readme: Path, section: str) -> None:
    """Put ``section`` between the markers of ``readme``, atomically."""
    head, tail = _around_section(readme)
    with atomic_write(readme) as handle:
        handle.write(f"{head}{START}\n{section}{END}\n{tail}")


def publish_experiment(output_dir: str | Path, docs_dir: str | Path, readme: str | Path | None = None) -> int:
    """Re-make the report of ``output_dir``, copy its records to ``docs_dir``, refresh ``readme``'s section.

    Returns the number of finished cells published.

    >>> publish_experiment("runs/paper-ablations", "docs/experiments/paper-ablations", "README.md")  # doctest: +SKIP
    """
    output, docs = Path(output_dir), Path(docs_dir)
    if not (output / "experiment.yaml").is_file():
        raise InputError("not an experiment folder (no experiment.yaml)", path=output)
    if readme is not None:
        _around_section(Path(readme))  # a README without its markers fails before anything is written
    summary = write_report(output)
    cells = sorted({Path(path).parent.name for arm in summary["arms"] for path in arm["cells"]})
    copy_records(output, docs, cells)
    if readme is not None:
        link = Path(os.path.relpath(docs.resolve(), Path(readme).resolve().parent)).as_posix()
        replace_section(Path(readme), readme_section(summary, link))
    return len(cells)
