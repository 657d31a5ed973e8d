"""Toy training data for the training tests: six queries, three graded documents each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOY_SCORES = (1.0, 0.5, 0.0)


def toy_records(queries: int = 6) -> list[dict]:
    return [{"query": f"question {q} about topic {q * 7}",
             "document": f"document {d} on topic {q * 7 + d} with words {q} {d}", "score": score}
            for q in range(queries) for d, score in enumerate(TOY_SCORES)]


@pytest.fixture()
def toy_pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in toy_records()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def bixse_cli():
    """``bixse_cli("train", ...)`` runs ``python -m bixse`` in a subprocess."""
    return run_cli


def run_cli(*args: str, timeout: float = 120, **popen: object) -> subprocess.CompletedProcess:
    """``python -m bixse ...`` in a subprocess with one thread (results independent of the core count)."""
    return subprocess.run([sys.executable, "-m", "bixse", *args], cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout, **popen)


@pytest.fixture(scope="session", name="cli_env")
def cli_env_fixture() -> dict[str, str]:
    """Environment of a ``python -m bixse`` subprocess."""
    return cli_env()


def cli_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}
