"""A model-free judge for tests and dry runs of the labelling pipeline (``--judge dummy``).

Its score is a deterministic hash of the pair, meaningless as relevance. For tests that
kill a run and count model calls it can log every call to a file and sleep per batch; both
are also settable from the environment so a ``bixse judge`` subprocess picks them up:

- ``BIXSE_DUMMY_JUDGE_CALLS``: append ``batch <n> start`` before a batch's sleep and one
  ``call <query sha256> <document sha256>`` line per pair after it, each flushed and fsynced.
- ``BIXSE_DUMMY_JUDGE_SLEEP``: seconds to sleep per batch (a stand-in for model time).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from bixse.judging.base import Judge, Judgement, Pair, Skipped
from bixse.judging.identity import text_sha256


class DummyJudge(Judge):
    """Deterministic pseudo-random scores; optional call log and per-batch sleep (see module)."""

    kind = "dummy"
    family = "test"
    default_batch_size = 4

    def __init__(self, seed: int = 0, calls_file: str | Path | None = None, sleep_s: float | None = None) -> None:
        self.seed = seed
        calls_file = calls_file or os.environ.get("BIXSE_DUMMY_JUDGE_CALLS")
        self.calls_file = Path(calls_file) if calls_file else None
        self.sleep_s = float(sleep_s if sleep_s is not None else os.environ.get("BIXSE_DUMMY_JUDGE_SLEEP", 0.0))
        self.name = f"dummy-{seed}"
        self.batches = 0

    @property
    def identity(self) -> str:
        return f"dummy:seed={self.seed}"

    def _log(self, lines: list[str]) -> None:
        if self.calls_file is None:
            return
        with open(self.calls_file, "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())

    def score(self, query: str, document: str) -> float:
        digest = text_sha256(f"{self.seed}\0{query}\0{document}")
        return int(digest[:8], 16) / 0xFFFFFFFF

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        self.batches += 1
        self._log([f"batch {self.batches} start"])
        if self.sleep_s:
            time.sleep(self.sleep_s)
        self._log([f"call {text_sha256(q)} {text_sha256(d)}" for q, d in pairs])
        return [Judgement(score=self.score(q, d)) for q, d in pairs]
