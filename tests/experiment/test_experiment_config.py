"""Experiment files: the grid's cells, and every bad file refused before any work, naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bixse.errors import InputError
from bixse.experiment import config_from_mapping, parse_shard
from bixse.experiment.config import shard_of

from toy_experiment import toy_mapping


def test_cells_are_the_product_of_the_axes_seed_major(tiny_model_path):
    config = config_from_mapping(toy_mapping(tiny_model_path))
    cells = config.cells()
    assert len(cells) == 2 * 2 * 2
    assert [c.seed for c in cells] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [(c.transform.name, c.loss.name) for c in cells[:4]] == [
        ("none", "bixse"), ("none", "infonce"), ("flip0.5", "bixse"), ("flip0.5", "infonce")]
    assert len({c.key for c in cells}) == 8
    assert cells[0].key.startswith("bixse__human__none__s0__b4__n4-")
    baseline = config.baseline_of(cells[2])
    assert baseline is not None and baseline.key == cells[3].key


def test_a_cell_in_two_grids_runs_once(tiny_model_path):
    mapping = toy_mapping(tiny_model_path)
    mapping["grids"]["again"] = {"loss": ["infonce"], "labels": ["human"], "seed": [0]}
    cells = config_from_mapping(mapping).cells()
    assert len(cells) == 8  # infonce/none/seed 0 is already a cell of "noise"


def test_changing_a_fixed_setting_changes_every_key(tiny_model_path):
    first = config_from_mapping(toy_mapping(tiny_model_path)).cells()
    mapping = toy_mapping(tiny_model_path)
    mapping["training"]["learning_rate"] = 1e-4
    second = config_from_mapping(mapping).cells()
    assert not {c.key for c in first} & {c.key for c in second}


def test_a_loss_learning_rate_makes_new_cells_and_reaches_the_training_config(tiny_model_path, tmp_path):
    from bixse.experiment.runner import train_settings

    plain = config_from_mapping(toy_mapping(tiny_model_path)).cells()
    mapping = toy_mapping(tiny_model_path, loss=["bixse", "infonce", {"name": "bixse-lr", "loss": "bixse", "loss_learning_rate": "1e-2"}])
    config = config_from_mapping(mapping)
    cells = {cell.loss.name: cell for cell in config.cells() if cell.seed == 0 and cell.transform.name == "none"}
    assert cells["bixse"].key == plain[0].key  # a grid without the option keeps its cells' keys
    assert cells["bixse-lr"].key.startswith("bixse-lr__") and cells["bixse-lr"].loss.spec()["loss_learning_rate"] == 0.01
    settings = {name: train_settings(config, cell, tmp_path / "labels.jsonl", tmp_path / "model")
                for name, cell in cells.items()}
    assert settings["bixse-lr"].loss_learning_rate == 0.01 and settings["bixse"].loss_learning_rate is None


def test_shards_are_disjoint_and_cover_every_cell(tiny_model_path):
    cells = config_from_mapping(toy_mapping(tiny_model_path, seed=[0, 1, 2])).cells()
    shares = [shard_of(cells, (i, 3)) for i in (1, 2, 3)]
    keys = [c.key for share in shares for c in share]
    assert sorted(keys) == sorted(c.key for c in cells) and len(set(keys)) == len(cells)
    assert parse_shard("2/3") == (2, 3)


@pytest.mark.parametrize("text", ["3/2", "0/2", "1", "a/b", "1/0"])
def test_bad_shard_specs(text):
    with pytest.raises(InputError, match="expected i/n") as error:
        parse_shard(text)
    assert error.value.field == "shard"


def _broken(mapping, path, value):
    target = mapping
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return mapping


_DELETE = object()


@pytest.mark.parametrize("path, value, field, message", [
    (("grids", "noise", "loss"), ["bixse", "bixes"], "grids.noise.loss[1].loss", "unknown loss 'bixes'"),
    (("grids", "noise", "loss"), [], "grids.noise.loss", "at least one value"),
    (("grids", "noise", "seed"), [], "grids.noise.seed", "at least one value"),
    (("grids", "noise", "labels"), ["humans"], "grids.noise.labels[0]", "unknown label source 'humans'"),
    (("grids", "noise", "transform"), [{"flip": 1.5}], "grids.noise.transform[0].flip", r"in \[0, 1\]"),
    (("grids", "noise", "transform"), [{"shuffle": 0.1}], "grids.noise.transform[0].shuffle", "unknown key"),
    (("grids", "noise", "seeds"), [0], "grids.noise.seeds", "unknown key"),
    (("grids", "noise", "loss"), [{"loss": "bixse", "loss_learning_rate": 0}], "grids.noise.loss[0].loss_learning_rate",
     "positive number"),
    (("grids", "noise", "loss"), _DELETE, "grids.noise.loss", "missing axis"),
    (("training", "learnig_rate"), 1e-4, "training.learnig_rate", "unknown key"),
    (("training", "seed"), 3, "training.seed", "unknown key"),  # an axis, not a fixed setting
    (("evaluation", "measures"), ["nDCG@ten"], "evaluation.measures[0]", "unknown measure"),
    (("evaluation", "references"), ["bm26"], "evaluation.references[0]", "unknown reference"),
    (("baseline",), "mnrl", "baseline", "not a loss of any grid"),
    (("labels", "human", "qrels"), "x.tsv", "labels.human.max_grade", "top grade"),
    (("grid",), {}, "grid", "unknown key"),
    (("grids",), {}, "grids", "at least one grid"),
])
def test_bad_experiment_files_name_the_key(tiny_model_path, path, value, field, message):
    mapping = _broken(toy_mapping(tiny_model_path), path, value)
    with pytest.raises(InputError, match=message) as error:
        config_from_mapping(mapping, "toy.yaml")
    assert error.value.field == field
    assert error.value.path == "toy.yaml"


@pytest.mark.parametrize("name, cells, claims", [("paper-ablations", 162, 20), ("paper-batch", 12, 0)])
def test_the_shipped_grids_parse(name, cells, claims):
    from bixse.experiment import load_experiment

    config = load_experiment(Path(__file__).parents[2] / "experiments" / f"{name}.yaml")
    assert len(config.cells()) == cells and config.baseline == "infonce" and len(config.claims) == claims


def test_the_readme_grid_parses_with_its_claim():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Writing your own grid"):]
    grid = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = config_from_mapping(yaml.safe_load(grid), "README.md")
    assert len(config.cells()) == 4 * 3 * 3
    assert [(c.arm, c.against) for c in config.claims] == [
        (("bixse", "human", "flip0.1", 32, 100), ("infonce", "human", "flip0.1", 32, 100))]
