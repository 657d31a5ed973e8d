"""Gradient caching benchmark: peak memory and speed of ``bixse train`` against batch size.

``bixse train --loss bixse`` (``bixse.training.train``) with ``--mini-batch-size 32`` (GradCache,
``bixse.losses.cached.CachedLoss``) against the plain loss, at batch 32, 128, 512 and 1024:
packaged all-MiniLM-L6-v2, max_seq_length 64, fp32, AdamW, 1 warm-up step then 2 timed steps.
Rows are synthetic: distinct queries of 12 words and documents of 60 words drawn from the
Cranfield corpus's vocabulary (so documents fill the 64 tokens), graded labels in {0, .25, .5,
.75, 1}.

Memory: the RSS high-water mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) of a fresh child
process per setting, at the end of training (model, optimizer state, activations, everything),
and the same mark when training began (after the model loaded), so that their difference is what
training itself added. Speed: optimizer steps per second over the timed steps. A plain run whose
peak, extrapolated linearly in the batch size from the two largest plain runs so far, would exceed
``--memory-limit-gib`` (12) is skipped, and the table says so with the estimate.

Run: ``.venv/bin/python bench/cached.py [--write] [--batch-sizes 32 128 512 1024]`` (``--write``
puts the table into bench/README.md between the cached markers).
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from readme_section import write_readme_section
from transformers import TrainerCallback

from bixse.environment import describe_cpu

MAX_SEQ_LENGTH = 64
MINI_BATCH = 32
WARMUP_STEPS = 1
TIMED_STEPS = 2
QUERY_WORDS, DOCUMENT_WORDS = 12, 60
GRADES = (0.0, 0.25, 0.5, 0.75, 1.0)
RESULT = "RESULT "


def high_water_mib() -> float:
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Probe(TrainerCallback):
    """Optimizer-step durations and the RSS high-water mark when training began."""

    def __init__(self) -> None:
        self.step_seconds: list[float] = []
        self.start_mib = 0.0
        self._started = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_mib = high_water_mib()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step_seconds.append(time.perf_counter() - self._started)


def synthetic_rows(count: int, seed: int = 0) -> Any:
    """``count`` rows in the pointwise layout (query, document_0, label), every text distinct."""
    from datasets import Dataset

    from bixse.collections import load

    vocabulary = sorted({word for document in load("cranfield").corpus.values()
                         for word in re.findall(r"[a-z]{3,}", document.text.lower())})
    generator = random.Random(seed)
    queries = [" ".join(generator.choices(vocabulary, k=QUERY_WORDS)) for _ in range(count)]
    documents = [" ".join(generator.choices(vocabulary, k=DOCUMENT_WORDS)) for _ in range(count)]
    labels = [[generator.choice(GRADES)] for _ in range(count)]
    return Dataset.from_dict({"query": queries, "document_0": documents, "label": labels})


def in_child(batch_size: int, mini_batch_size: int | None, model: str) -> dict[str, Any]:
    """One measured run (the body of a child process)."""
    from bixse.training import TrainConfig, train

    steps = WARMUP_STEPS + TIMED_STEPS
    rows = synthetic_rows(batch_size * steps)
    probe = Probe()
    with tempfile.TemporaryDirectory(prefix="bixse-bench-cached-") as workdir:
        config = TrainConfig(model=model, loss="bixse", batch_size=batch_size, mini_batch_size=mini_batch_size,
                             max_steps=steps, max_seq_length=MAX_SEQ_LENGTH, precision="fp32", dev_split=None,
                             checkpoint_steps=10**9, logging_steps=steps, output_dir=workdir, overwrite=True)
        train(config, dataset=rows, callbacks=[probe])
    timed = probe.step_seconds[WARMUP_STEPS:]
    return {"peak_mib": high_water_mib(), "start_mib": probe.start_mib, "steps": len(probe.step_seconds),
            "steps_per_second": len(timed) / sum(timed)}


def child_run(batch_size: int, mini_batch_size: int | None, model: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--batch-size", str(batch_size),
               "--model", model, "--threads", str(THREADS)]
    command += ["--mini-batch-size", str(mini_batch_size)] if mini_batch_size else []
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"batch {batch_size}, mini-batch {mini_batch_size} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT):])


def extrapolated_peak(runs: dict[int, dict[str, Any]], batch_size: int) -> float | None:
    """The peak at ``batch_size`` on the line through the two largest measured batches, or None."""
    if len(runs) < 2:
        return None
    (small, low), (large, high) = sorted(runs.items())[-2:]
    return high["peak_mib"] + (high["peak_mib"] - low["peak_mib"]) / (large - small) * (batch_size - large)


def measure(batch_sizes: list[int], model: str, limit_mib: float) -> tuple[dict, dict, dict]:
    cached: dict[int, dict[str, Any]] = {}
    plain: dict[int, dict[str, Any]] = {}
    skipped: dict[int, float] = {}
    for batch_size in batch_sizes:
        cached[batch_size] = child_run(batch_size, MINI_BATCH, model)
        report("cached", batch_size, cached[batch_size])
        estimate = extrapolated_peak(plain, batch_size)
        if estimate is not None and estimate > limit_mib:
            skipped[batch_size] = estimate
            print(f"plain  batch {batch_size:5d}: skipped, estimated peak {estimate / 1024:.1f} GiB", flush=True)
            continue
        plain[batch_size] = child_run(batch_size, None, model)
        report("plain", batch_size, plain[batch_size])
    return cached, plain, skipped


def report(name: str, batch_size: int, numbers: dict[str, Any]) -> None:
    print(f"{name:6s} batch {batch_size:5d}: peak RSS {numbers['peak_mib']:.0f} MiB (at train start "
          f"{numbers['start_mib']:.0f}), {numbers['steps_per_second']:.4f} steps/s", flush=True)


def markdown(cached: dict, plain: dict, skipped: dict, limit_mib: float, command: str, load: tuple,
             model: str) -> str:
    def cells(numbers: dict[str, Any] | None, batch_size: int) -> str:
        if numbers is None:
            return f"skipped (estimated {skipped[batch_size] / 1024:.1f} GiB > {limit_mib / 1024:.0f} GiB) | - | -"
        return (f"{numbers['peak_mib']:.0f} (+{numbers['peak_mib'] - numbers['start_mib']:.0f}) | "
                f"{numbers['steps_per_second']:.4f} | {numbers['steps_per_second'] * batch_size:.1f}")

    model_name = "packaged all-MiniLM-L6-v2" if model == "default" else model
    lines = [
        f"Machine: {describe_cpu()}, no GPU; torch {torch.__version__}, {THREADS} thread{'s' * (THREADS != 1)}; 1-minute load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (other jobs shared the cores: absolute rates are "
        f"rough). Run: `{command}`.",
        "",
        f"`bixse train --loss bixse`, {model_name}, max_seq_length {MAX_SEQ_LENGTH}, fp32, "
        f"{WARMUP_STEPS} warm-up step then {TIMED_STEPS} timed steps; synthetic rows (distinct {QUERY_WORDS}-word "
        f"queries and {DOCUMENT_WORDS}-word documents over Cranfield's vocabulary, graded labels). Peak RSS: the "
        "high-water mark of a fresh process per setting (in brackets: what training added to the mark at its "
        f"start, after the model loaded). Cached: `--mini-batch-size {MINI_BATCH}` (GradCache; at batch "
        f"{MINI_BATCH} one mini-batch, which shows the cost of the second forward pass alone).",
        "",
        f"| batch | cached: peak RSS MiB | cached: steps/s | cached: queries/s | plain: peak RSS MiB | plain: steps/s "
        f"| plain: queries/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch_size in sorted(cached):
        lines.append(f"| {batch_size} | {cells(cached[batch_size], batch_size)} | "
                     f"{cells(plain.get(batch_size), batch_size)} |")
    notes = []
    largest = max(cached)
    if 128 in cached and largest > 128:
        growth = cached[largest]["peak_mib"] / cached[128]["peak_mib"] - 1
        target = (f" (target: at most +25% to 1024; {'met' if growth <= 0.25 else 'NOT met'})"
                  if largest == 1024 else "")
        notes.append(f"Cached peak RSS from batch 128 to {largest}: {growth:+.1%}{target}; what training added: "
                     f"{cached[128]['peak_mib'] - cached[128]['start_mib']:.0f} -> "
                     f"{cached[largest]['peak_mib'] - cached[largest]['start_mib']:.0f} MiB.")
    for batch_size in sorted(plain):
        ours, theirs = cached[batch_size], plain[batch_size]
        notes.append(f"Batch {batch_size}: cached / plain peak RSS {ours['peak_mib'] / theirs['peak_mib']:.2f}, "
                     f"speed {ours['steps_per_second'] / theirs['steps_per_second']:.2f}.")
    if 1024 not in cached:
        notes.append(f"Batch sizes run: {', '.join(map(str, sorted(cached)))} (1024 not run).")
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512, 1024])
    parser.add_argument("--model", default="default", help="base model (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--memory-limit-gib", type=float, default=12.0,
                        help="skip a plain run whose extrapolated peak RSS exceeds this")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mini-batch-size", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(RESULT + json.dumps(in_child(options.batch_size, options.mini_batch_size, options.model)))
        return
    command = "bench/cached.py " + " ".join(sys.argv[1:])
    load_before = os.getloadavg()[0]
    cached, plain, skipped = measure(sorted(options.batch_sizes), options.model, options.memory_limit_gib * 1024)
    text = markdown(cached, plain, skipped, options.memory_limit_gib * 1024,
                    f".venv/bin/python {command.strip()}", (load_before, os.getloadavg()[0]), options.model)
    print(text)
    if options.write:
        write_readme_section("cached", text)


if __name__ == "__main__":
    main()
