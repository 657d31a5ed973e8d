"""`bixse experiment`: the help teaches the file format; bad files exit 2 on one line; --dry-run plans."""

from __future__ import annotations

import subprocess
import sys

from toy_experiment import toy_mapping, write_experiment


def _bixse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bixse", *args], capture_output=True, text=True,
                          env={"COLUMNS": "120", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_run_help_shows_a_whole_grid_with_its_lists():
    result = _bixse("experiment", "run", "--help")
    assert result.returncode == 0
    assert "transform: [none, {flip: 0.1}, {cutoff: 0.5}, {binarize: 0.5}]" in result.stdout
    assert "--shard" in result.stdout and "--dry-run" in result.stdout and "--keep-models" in result.stdout


def test_a_bad_file_exits_2_with_one_line_naming_the_key(tiny_model_path, tmp_path):
    mapping = toy_mapping(tiny_model_path)
    mapping["grids"]["noise"]["loss"] = ["bixse", "infonse"]
    result = _bixse("experiment", "run", str(write_experiment(tmp_path, mapping)), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "grids.noise.loss[1].loss" in lines[0] and "unknown loss 'infonse'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_the_cells_and_trains_nothing(toy_experiment_file, tmp_path):
    result = _bixse("experiment", "run", str(toy_experiment_file), "-o", str(tmp_path / "out"), "--dry-run",
                    "--shard", "2/2")
    assert result.returncode == 0, result.stderr
    assert "4 cells (shard 2/2)" in result.stdout and "0 done, 4 to run" in result.stdout
    assert not (tmp_path / "out" / "cells").exists()


def test_report_of_a_folder_that_is_no_experiment_is_an_error(tmp_path):
    result = _bixse("experiment", "report", str(tmp_path))
    assert result.returncode == 2 and "not an experiment folder" in result.stderr
