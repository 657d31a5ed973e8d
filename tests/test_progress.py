"""Progress for log files: plain lines at most once per interval with count, rate and time left,
a last line, nothing for a short job; and `bixse judge` writing them when stderr is a file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bixse.mining import Candidate, write_candidates
from bixse.progress import LogTracker, Tracker, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_come_once_per_interval_with_rate_and_time_left() -> None:
    clock, stream = FakeClock(), io.StringIO()
    tracker = LogTracker(None, "judging", "pairs", every=30, stream=stream, clock=clock)
    tracker.start(1000)
    for _ in range(10):          # 10 items a second for 40 s: one line, at 30 s
        clock.now += 4
        tracker(40)
    assert stream.getvalue().splitlines() == ["judging: 320/1,000 pairs, 10.0/s, 0:32 elapsed, about 1:08 left"]
    clock.now += 1
    tracker(10)                  # within the interval of the last line: nothing
    assert len(stream.getvalue().splitlines()) == 1
    tracker.close()              # the last line, whatever the interval
    assert stream.getvalue().splitlines()[-1] == "judging: 410/1,000 pairs, 10.0/s, 0:41 elapsed, about 0:59 left"


def test_a_job_shorter_than_the_interval_writes_nothing_and_hours_are_shown() -> None:
    clock, stream = FakeClock(), io.StringIO()
    short = LogTracker(5, "encoding", "texts", every=30, stream=stream, clock=clock)
    clock.now += 2
    short(5)
    short.close()
    assert stream.getvalue() == ""
    long = LogTracker(None, "encoding", "texts", every=30, stream=stream, clock=clock)
    clock.now += 3 * 3600 + 65
    long(7)
    assert stream.getvalue().strip() == "encoding: 7 texts, 0.0/s, 3:01:05 elapsed"


def test_progress_bar_picks_log_lines_without_a_terminal_and_nothing_when_asked(monkeypatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setenv("BIXSE_PROGRESS_SECONDS", "7")
    with progress_bar(10, "x") as tracker:
        assert isinstance(tracker, LogTracker) and tracker.every == 7
    with progress_bar(10, "x", show_progress=False) as tracker:
        assert type(tracker) is Tracker


def test_bixse_judge_writes_progress_lines_into_a_log_file(tmp_path: Path) -> None:
    candidates = [Candidate(str(q), f"{q}-{d}", d + 1, 1.0, "bm25", f"query {q}", f"document {d}")
                  for q in range(6) for d in range(4)]
    candidates_path, log = tmp_path / "candidates.jsonl", tmp_path / "judge.log"
    write_candidates(candidates_path, candidates, with_texts=True)
    env = {**os.environ, "BIXSE_DUMMY_JUDGE_SLEEP": "0.1", "BIXSE_PROGRESS_SECONDS": "0.15",
           "BIXSE_CACHE": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as stderr:
        subprocess.run([sys.executable, "-m", "bixse", "judge", "-i", str(candidates_path), "--judge", "dummy",
                        "--batch-size", "4", "--cache", str(tmp_path / "labels.sqlite")],
                       env=env, stderr=stderr, stdout=subprocess.DEVNULL, check=True, timeout=120)
    lines = [line for line in log.read_text().splitlines() if line.startswith("judging: ")]
    assert len(lines) >= 2, log.read_text()
    assert lines[-1].startswith("judging: 24/24 pairs, ")
    assert all("/24 pairs" in line for line in lines)
