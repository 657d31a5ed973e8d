"""From finished cells to arms and comparisons: means over seeds, intervals, paired tests, Holm.

An *arm* is a cell without its seed (loss, labels, transform, batch size, budget). Each arm is
compared with the baseline arm of the same labels, transform, batch size and budget (the
experiment's ``baseline`` loss), on the seeds both have, on each collection and pooled (macro
mean over the collections). Holm's correction runs over all comparisons of a scope and measure.
Everything here reads only the cells' ``result.json`` files, so a report can be made from any
mix of finished shards.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bixse.evaluation.significance import holm_correction
from bixse.experiment.config import _digest
from bixse.experiment.statistics import (
    bootstrap_p_value,
    macro_mean,
    macro_randomization_test,
    seed_spread,
    two_level_bootstrap,
)

POOLED = "pooled"
ALPHA = 0.05


def arm_id(arm: dict[str, Any]) -> str:
    return f"{arm['loss']} · {arm['labels']} · {arm['transform']} · b{arm['batch_size']} · n{arm['max_steps']}"


def load_results(output_dir: Path) -> list[dict[str, Any]]:
    """Every finished cell's result, with the path it was read from."""
    results = []
    for path in sorted((output_dir / "cells").glob("*/result.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["path"] = str(path.relative_to(output_dir))
        results.append(record)
    return results


def load_references(output_dir: Path) -> dict[str, dict[str, Any]]:
    references: dict[str, dict[str, Any]] = {}
    for path in sorted((output_dir / "references").glob("*/eval/*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        name = f"{Path(record['collection']).name}:{record['split']}"
        references.setdefault(path.parent.parent.name, {})[name] = record
    return references


def _query_ids(sides: Sequence[dict[int, dict[str, Any]]], seeds: list[int], target: str, measure: str) -> list[str]:
    """The queries every seed of every side scored on ``target``: two arms are paired by query id,
    never by position, and a query one side lacks is left out of both."""
    scored = [set(cells[s]["evaluation"][target]["per_query"][measure]) for cells in sides for s in seeds]
    return sorted(set.intersection(*scored))


def _matrices(cells: dict[int, dict[str, Any]], seeds: list[int], targets: list[str],
              measure: str, paired_with: Sequence[dict[int, dict[str, Any]]] = ()) -> list[np.ndarray]:
    matrices = []
    for target in targets:
        queries = _query_ids([cells, *paired_with], seeds, target, measure)
        matrices.append(np.array([[cells[s]["evaluation"][target]["per_query"][measure][q] for q in queries]
                                  for s in seeds]))
    return matrices


def _score_summary(matrices: list[np.ndarray], seeds: list[int], n_resamples: int) -> dict[str, Any]:
    per_seed = np.mean([m.mean(axis=1) for m in matrices], axis=0)
    return {"mean": macro_mean(matrices), "sd": seed_spread(matrices),
            "ci": list(two_level_bootstrap(matrices, n_resamples=n_resamples)),
            "per_seed": dict(zip(map(str, seeds), per_seed.round(6).tolist()))}


def group_arms(results: list[dict[str, Any]]) -> tuple[dict[str, dict[int, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Finished cells by arm id and seed, and each arm's fields."""
    by_arm: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    arms: dict[str, dict[str, Any]] = {}
    first_evaluated: dict[str, frozenset[str]] = {}
    for result in results:
        identity = arm_id(result["arm"])
        evaluated = frozenset(result["evaluation"])
        if first_evaluated.setdefault(identity, evaluated) != evaluated:
            # The same arm evaluated on other collections by another grid: an arm of its own.
            identity += f" · eval {len(evaluated)} ({_digest(sorted(evaluated), 4)})"
        by_arm[identity][result["seed"]] = result
        arms.setdefault(identity, {**result["arm"], "grid": result["grid"],
                                   "transform_spec": result["spec"]["transform"]})
    return by_arm, arms


def summarise(results: list[dict[str, Any]], baseline: str, measures: list[str],
              n_resamples: int = 2_000) -> dict[str, Any]:
    """Arms (scores over seeds) and comparisons with the baseline arm, per collection and pooled."""
    by_arm, arms = group_arms(results)
    summary_arms = []
    for identity, cells in by_arm.items():
        seeds = sorted(cells)
        targets = list(cells[seeds[0]]["evaluation"])
        scores: dict[str, Any] = {}
        for scope in [*targets, POOLED]:
            scope_targets = targets if scope == POOLED else [scope]
            scores[scope] = {m: _score_summary(_matrices(cells, seeds, scope_targets, m), seeds, n_resamples)
                             for m in measures}
        summary_arms.append({"id": identity, **arms[identity], "seeds": seeds, "targets": targets,
                             "cells": [cells[s]["path"] for s in seeds], "scores": scores})
    comparisons = _comparisons(by_arm, arms, baseline, measures, n_resamples)
    return {"baseline": baseline, "measures": measures, "arms": summary_arms, "comparisons": comparisons}


def common_ground(cells: dict[int, dict[str, Any]], base_cells: dict[int, dict[str, Any]] | None
                  ) -> tuple[list[int], list[str]]:
    """The seeds both arms have, and the collections both were evaluated on."""
    seeds = sorted(set(cells) & set(base_cells or {}))
    if not seeds:
        return [], []
    return seeds, [t for t in cells[seeds[0]]["evaluation"] if t in base_cells[seeds[0]]["evaluation"]]


def difference_matrices(cells: dict[int, dict[str, Any]], base_cells: dict[int, dict[str, Any]], seeds: list[int],
                        targets: list[str], measure: str) -> list[np.ndarray]:
    """Per collection, (seeds, queries) of the arm's score minus the other arm's."""
    return [a - b for a, b in zip(_matrices(cells, seeds, targets, measure, [base_cells]),
                                  _matrices(base_cells, seeds, targets, measure, [cells]))]


def paired_test(cells: dict[int, dict[str, Any]], base_cells: dict[int, dict[str, Any]], seeds: list[int],
                targets: list[str], measure: str, n_resamples: int) -> dict[str, Any]:
    """Macro mean difference of two arms on shared seeds and collections: interval and both tests."""
    differences = difference_matrices(cells, base_cells, seeds, targets, measure)
    return {"delta": macro_mean(differences),
            "ci": list(two_level_bootstrap(differences, n_resamples=n_resamples)),
            "boot_p": bootstrap_p_value(differences, n_resamples=n_resamples),
            "rand_p": macro_randomization_test(differences)}


def _comparisons(by_arm: dict[str, dict[int, dict[str, Any]]], arms: dict[str, dict[str, Any]], baseline: str,
                 measures: list[str], n_resamples: int) -> list[dict[str, Any]]:
    comparisons = []
    for identity, cells in by_arm.items():
        arm = arms[identity]
        if arm["loss"] == baseline:
            continue
        base_id = arm_id({**arm, "loss": baseline})
        base_cells = by_arm.get(base_id)
        seeds, targets = common_ground(cells, base_cells)
        if not targets:
            continue
        scopes = {scope: {measure: paired_test(cells, base_cells, seeds, targets if scope == POOLED else [scope],
                                               measure, n_resamples) for measure in measures}
                  for scope in [*targets, POOLED]}
        comparisons.append({"arm": identity, "baseline": base_id, "loss": arm["loss"], "labels": arm["labels"],
                            "transform": arm["transform"], "seeds": seeds, "scopes": scopes})
    _holm(comparisons, measures)
    return comparisons


def _holm(comparisons: list[dict[str, Any]], measures: list[str]) -> None:
    """Holm-adjust each (scope, measure) family across the comparisons; mark the verdicts."""
    scopes = {scope for comparison in comparisons for scope in comparison["scopes"]}
    for scope in scopes:
        for measure in measures:
            family = [c["scopes"][scope][measure] for c in comparisons if scope in c["scopes"]]
            for test, key in (("boot_p", "boot_p_holm"), ("rand_p", "rand_p_holm")):
                for entry, adjusted in zip(family, holm_correction([e[test] for e in family])):
                    entry[key] = adjusted
            for entry in family:
                entry["significant"] = entry["boot_p_holm"] < ALPHA and entry["rand_p_holm"] < ALPHA
                entry["verdict"] = verdict(entry)


def verdict(entry: dict[str, Any]) -> str:
    if entry["significant"]:
        return "ahead" if entry["delta"] > 0 else "behind"
    return "no significant difference"
