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


def _mirror(source_dir: Path, target_dir: Path) -> None:
    """Make ``target_dir``'s files those of ``source_dir`` (a figure no longer drawn goes too)."""
    names = {p.name for p in source_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
    for name in sorted(names):
        _copy(source_dir / name, target_dir / name)
    for stale in target_dir.iterdir():
        if stale.is_file() and stale.name not in names:
            stale.unlink()


def _drop_unpublished(cells_dir: Path, keep: list[str]) -> None:
    """Remove published cells no longer in the report (a grid edited since); a folder holding
    anything but published records (a model, a checkpoint) is not a published cell and stays."""
    for folder in sorted(cells_dir.iterdir()) if cells_dir.is_dir() else []:
        if folder.name in keep or not folder.is_dir():
            continue
        if all(item.is_file() and item.name in CELL_FILES for item in folder.iterdir()):
            shutil.rmtree(folder)


def copy_records(output_dir: Path, docs_dir: Path, cells: list[str]) -> None:
    """Copy the experiment file, the report, the references' scores and ``cells``' records."""
    _copy(output_dir / "experiment.yaml", docs_dir / "experiment.yaml")
    _mirror(output_dir / REPORT_DIR, docs_dir / REPORT_DIR)
    for path in sorted((output_dir / "references").glob("*/eval/*.json")):
        _copy(path, docs_dir / path.relative_to(output_dir))
    for cell in cells:
        for name in CELL_FILES:
            if (output_dir / "cells" / cell / name).is_file():
                _copy(output_dir / "cells" / cell / name, docs_dir / "cells" / cell / name)
    _drop_unpublished(docs_dir / "cells", cells)


def readme_section(summary: dict[str, Any], docs_link: str) -> str:
    """The results as a README section: what ran, the tables, the figures and the claims' sentences."""
    measure = summary["primary_measure"]
    env = summary["environment"]
    machines = "; ".join(f"{name} ({count})" for name, count in summary["machines"].items()) or "no machine yet"
    seeds = sorted({seed for arm in summary["arms"] for seed in arm["seeds"]})
    per_arm = sorted({len(arm["seeds"]) for arm in summary["arms"]}) or [0]
    spread = f"{per_arm[0]}" if len(per_arm) == 1 else f"{per_arm[0]}-{per_arm[-1]}"
    figures = summary.get("figures", [])
    lines = [f"### What ran so far ({summary['cells_finished']} of {summary['cells_total']} cells; "
             f"{'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds)) or 'none'}; "
             f"{spread} seed{'s' if per_arm[-1] != 1 else ''} per arm)", "",
             f"Report made by `bixse experiment publish` on {env['date']}; cells ran on {machines}. Every number "
             f"is in `{docs_link}/` (`report/report.md`, `report/report.json` and each cell's `result.json`, per "
             "query).", "",
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
        # The arm without its transform (always none here), batch and budget kept: arms may differ only there.
        widths = "; ".join(f"{_without_transform(row['arm'])} ±{row['half_width']:.4f} ({row['seeds']} seed"
                           f"{'s' if row['seeds'] > 1 else ''})" for row in summary["power"])
        lines.append(f"Power (half-width of the 95% interval of the pooled {measure} difference from "
                     f"{summary['baseline']}, labels untransformed): {widths}.")
    return "\n".join(lines).rstrip() + "\n"


def _marker_lines(lines: list[str], marker: str) -> list[int]:
    """Where ``marker`` stands alone on a line outside code fences (a README may show it in prose
    or in an example)."""
    found, fenced = [], False
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.strip() == marker:
            found.append(number)
    return found


def _around_section(readme: Path) -> tuple[str, str]:
    """The README's text up to its start marker line and from its end marker line."""
    text = readme.read_bytes().decode("utf-8") if readme.is_file() else ""  # bytes: keep \r\n as it is
    lines = text.splitlines(keepends=True)
    starts, ends = _marker_lines(lines, START), _marker_lines(lines, END)
    if len(starts) != 1 or len(ends) != 1 or starts[0] > ends[0]:
        raise InputError(f"needs one {START} line followed by one {END} line", path=readme)
    return "".join(lines[:starts[0]]), "".join(lines[ends[0] + 1:])


def replace_section(readme: Path, section: str) -> None:
    """Put ``section`` between the markers of ``readme``, atomically, in the README's line endings."""
    head, tail = _around_section(readme)
    newline = "\r\n" if head.endswith("\r\n") else "\n"
    body = f"{START}\n{section}{END}\n".replace("\n", newline)
    with atomic_write(readme) as handle:
        handle.write(f"{head}{body}{tail}")


def publish_experiment(output_dir: str | Path, docs_dir: str | Path, readme: str | Path | None = None) -> int:
    """Re-make the report of ``output_dir``, copy its records to ``docs_dir``, refresh ``readme``'s section.

    Returns the number of finished cells published.

    >>> publish_experiment("runs/paper-ablations", "docs/experiments/paper-ablations", "README.md")  # doctest: +SKIP
    """
    output, docs = Path(output_dir), Path(docs_dir)
    if not (output / "experiment.yaml").is_file():
        raise InputError("not an experiment folder (no experiment.yaml)", path=output)
    inside = docs.resolve().is_relative_to(output.resolve()) or output.resolve().is_relative_to(docs.resolve())
    if inside:
        raise InputError("the folder to publish into must lie outside the experiment's folder (and not hold it)",
                         path=docs, field="to")
    if readme is not None:
        _around_section(Path(readme))  # a README without its markers fails before anything is written
    summary = write_report(output)
    cells = sorted({Path(path).parent.name for arm in summary["arms"] for path in arm["cells"]})
    copy_records(output, docs, cells)
    if readme is not None:
        replace_section(Path(readme), readme_section(summary, _link_from(Path(readme), docs)))
    return len(cells)


def _link_from(readme: Path, docs: Path) -> str:
    """The published folder as the README links it: relative where it can be (a README moves with its
    repository), absolute where no relative path exists (another drive on Windows)."""
    try:
        return Path(os.path.relpath(docs.resolve(), readme.resolve().parent)).as_posix()
    except ValueError:
        return docs.resolve().as_posix()


def _without_transform(arm: str) -> str:
    parts = arm.split(" · ")
    return " · ".join(parts[:2] + parts[3:])
