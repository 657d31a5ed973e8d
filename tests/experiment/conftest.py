"""The toy experiment file, written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_experiment import toy_mapping, write_experiment


@pytest.fixture(scope="session")
def toy_experiment_file(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_experiment(tmp_path_factory.mktemp("experiment"), toy_mapping(tiny_model_path))
