"""Training benchmark, against its peer run in the same benchmark run (2 torch threads):

1. ``bixse train --loss bixse`` (``bixse.training.train``: layout rows, QueryBatchSampler, BiXSE
   loss with its learnable bias) vs plain sentence-transformers training with
   MultipleNegativesRankingLoss (``SentenceTransformerTrainer``, ``BatchSamplers.NO_DUPLICATES``,
   (query, document) columns). Same model (packaged all-MiniLM-L6-v2), batch size, sequence
   length, optimizer, fp32, and the same Cranfield train pairs (1,017 human-graded pairs).
   Speed: median optimizer step time after the first steps (warm-up), per run; runs alternate
   (MNRL, bixse, bixse, MNRL, ...) so load from other processes falls on both alike.
   Memory: peak resident set size during ``trainer.train()`` minus the RSS when it began
   (sampled every 5 ms), i.e. what training itself allocates (activations, gradients, Adam state).
   Each run is a fresh child process of this script: in one process the first run's allocator
   growth (+2.2 GB measured) would be charged to whichever variant ran first.
2. ``--precision``: BiXSE training with the training defaults in fp32 vs bf16 autocast
   (``--precision bf16``): steps/s, and dev nDCG@10 (fp32 encoding, Cranfield dev split) after
   the same budget, against the untrained base model.

Run: ``.venv/bin/python bench/train.py [--write] [--steps 16] [--repeats 3] [--precision]``
(``--write`` puts the results into bench/README.md between the train markers).
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from readme_section import write_readme_section
from transformers import TrainerCallback

from bixse.collections import load
from bixse.collections.training_data import qrels_to_graded_pairs
from bixse.environment import describe_cpu
from bixse.training import TrainConfig, train

WARMUP_STEPS = 3
PAGE = os.sysconf("SC_PAGE_SIZE")
RESULT = "RESULT "


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class Probe(TrainerCallback):
    """Optimizer-step durations, and the peak RSS over ``trainer.train()`` relative to its start."""

    def __init__(self) -> None:
        self.step_seconds: list[float] = []
        self.baseline = self.peak = 0
        self._running = False
        self._started = 0.0

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        gc.collect()
        self.baseline = self.peak = rss_bytes()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step_seconds.append(time.perf_counter() - self._started)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._running = False
        self._thread.join()

    @property
    def steps_per_second(self) -> float:
        return 1.0 / statistics.median(self.step_seconds[WARMUP_STEPS:])

    @property
    def peak_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


@dataclass
class Setup:
    steps: int | None              # None: the training defaults' budget (TrainConfig.epochs)
    batch_size: int
    max_seq_length: int
    learning_rate: float = TrainConfig().learning_rate


def run_bixse(setup: Setup, workdir: Path, precision: str = "fp32") -> tuple[Probe, Path]:
    probe = Probe()
    config = TrainConfig(loss="bixse", batch_size=setup.batch_size, max_steps=setup.steps,
                         max_seq_length=setup.max_seq_length, learning_rate=setup.learning_rate,
                         precision=precision, dev_split=None, checkpoint_steps=10**9,
                         logging_steps=setup.steps or 10, output_dir=str(workdir / f"bixse-{precision}"),
                         overwrite=True)
    folder = train(config, callbacks=[probe])
    return probe, folder


def run_mnrl(setup: Setup, workdir: Path, pairs: list[Any]) -> Probe:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.base.sampler import BatchSamplers

    from bixse.models import load_sentence_transformer

    probe = Probe()
    model = load_sentence_transformer("default", device="cpu")
    model.max_seq_length = setup.max_seq_length
    dataset = Dataset.from_dict({"anchor": [p.query for p in pairs], "positive": [p.document for p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "mnrl"), per_device_train_batch_size=setup.batch_size, max_steps=setup.steps,
        learning_rate=setup.learning_rate, warmup_steps=0.1, weight_decay=0.01, seed=0,
        batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", logging_steps=setup.steps,
        report_to="none", use_cpu=True, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=losses.MultipleNegativesRankingLoss(model), callbacks=[probe])
    trainer.train()
    return probe


def child_run(kind: str, setup: Setup, precision: str = "fp32", evaluate: bool = False) -> dict[str, Any]:
    """One measured run in a fresh process (see the module docstring); returns its numbers."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--batch-size", str(setup.batch_size),
               "--max-seq-length", str(setup.max_seq_length), "--child-precision", precision]
    command += ["--steps", str(setup.steps)] if setup.steps else []
    command += ["--child-evaluate"] if evaluate else []
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} run failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT):])


def in_child(kind: str, setup: Setup, precision: str, evaluate: bool) -> dict[str, Any]:
    """The body of a child run: train (or, for ``base``, only evaluate) and measure."""
    from bixse.evaluation import evaluate_model

    numbers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bixse-bench-train-") as workdir:
        model: str | Path = "default"
        if kind != "base":
            if kind == "mnrl":
                probe = run_mnrl(setup, Path(workdir), qrels_to_graded_pairs(load("cranfield"), "train"))
            else:
                probe, model = run_bixse(setup, Path(workdir), precision)
            numbers |= {"steps_per_second": probe.steps_per_second, "peak_mib": probe.peak_mib,
                        "steps": len(probe.step_seconds)}
        if evaluate:
            scores = evaluate_model(str(model), "cranfield", "dev", precision="fp32", cache=False,
                                    show_progress=False).aggregate
            numbers["nDCG@10"] = scores["nDCG@10"]
    return numbers


def speed_and_memory(setup: Setup, repeats: int) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {"mnrl": [], "bixse": []}
    for repeat in range(repeats):
        order = ("mnrl", "bixse") if repeat % 2 == 0 else ("bixse", "mnrl")
        for name in order:
            numbers = child_run(name, setup)
            runs[name].append(numbers)
            print(f"{name:6s} run {repeat + 1}: {numbers['steps_per_second']:.3f} steps/s, "
                  f"peak RSS +{numbers['peak_mib']:.0f} MiB", flush=True)
    return runs


def precision_study(setup: Setup) -> list[dict[str, Any]]:
    rows = []
    for precision in ("fp32", "bf16"):
        numbers = child_run("bixse", setup, precision, evaluate=True)
        rows.append({"precision": precision, **numbers})
        print(f"{precision}: {numbers['steps_per_second']:.3f} steps/s, dev nDCG@10 {numbers['nDCG@10']:.4f}",
              flush=True)
    rows.append({"precision": "base model (untrained)", **child_run("base", setup, evaluate=True)})
    return rows


def markdown(setup: Setup, probes: dict[str, list[dict[str, Any]]], study: list[dict[str, Any]] | None) -> str:
    speed = {name: statistics.median(p["steps_per_second"] for p in runs) for name, runs in probes.items()}
    memory = {name: statistics.median(p["peak_mib"] for p in runs) for name, runs in probes.items()}
    repeats = len(probes["bixse"])
    lines = [
        f"Machine: {describe_cpu()}, no GPU; torch {torch.__version__}, {THREADS} threads; "
        f"date {datetime.now(timezone.utc):%Y-%m-%d}. Model: packaged all-MiniLM-L6-v2; Cranfield train pairs (1,017, human grades); "
        f"batch {setup.batch_size}, max_seq_length {setup.max_seq_length}, {setup.steps} optimizer steps per run "
        f"(first {WARMUP_STEPS} excluded from timing), fp32, AdamW lr {setup.learning_rate}; median of {repeats} "
        "alternating runs each.",
        "",
        "| training | steps/s | peak RSS during train() | ratio (speed) |",
        "|---|---|---|---|",
        f"| sentence-transformers, MultipleNegativesRankingLoss, NO_DUPLICATES sampler | {speed['mnrl']:.3f} "
        f"| +{memory['mnrl']:.0f} MiB | 1.00 |",
        f"| `bixse train --loss bixse` (QueryBatchSampler, BiXSE loss + learnable bias) | {speed['bixse']:.3f} "
        f"| +{memory['bixse']:.0f} MiB | **{speed['bixse'] / speed['mnrl']:.2f}** |",
        "",
        f"Speed ratio bixse / MNRL: {speed['bixse'] / speed['mnrl']:.3f} (target >= 0.95); memory ratio "
        f"{memory['bixse'] / memory['mnrl']:.2f}. Per-run steps/s: MNRL "
        + ", ".join(f"{p['steps_per_second']:.3f}" for p in probes["mnrl"]) + "; bixse "
        + ", ".join(f"{p['steps_per_second']:.3f}" for p in probes["bixse"]) + ". Each run in a fresh process.",
    ]
    if study:
        lines += ["", f"Precision: BiXSE with the training defaults ({TrainConfig().epochs:g} epoch of Cranfield train, "
                  f"{study[0]['steps']} steps, batch {setup.batch_size}), dev nDCG@10 (25 queries, encoded in fp32):", "",
                  "| training precision | steps/s | dev nDCG@10 |", "|---|---|---|"]
        for row in study:
            speed_cell = f"{row['steps_per_second']:.3f}" if "steps_per_second" in row else "-"
            lines.append(f"| {row['precision']} | {speed_cell} | {row['nDCG@10']:.4f} |")
        lines += ["", "Hence `--precision auto` (the default) trains in bf16 on a CPU with native bf16 (AVX512-BF16 "
                  "or AMX, as here) and in fp32 on others, where autocast would emulate bf16."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precision", action="store_true",
                        help="also compare fp32 and bf16 BiXSE training (training defaults, one run each)")
    parser.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    parser.add_argument("--child", choices=("mnrl", "bixse", "base"), help=argparse.SUPPRESS)
    parser.add_argument("--child-precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--child-evaluate", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        setup = Setup(options.steps if "--steps" in sys.argv else None, options.batch_size, options.max_seq_length)
        print(RESULT + json.dumps(in_child(options.child, setup, options.child_precision, options.child_evaluate)))
        return
    setup = Setup(options.steps, options.batch_size, options.max_seq_length)
    probes = speed_and_memory(setup, options.repeats)
    study = precision_study(Setup(None, options.batch_size, options.max_seq_length)) if options.precision else None
    text = markdown(setup, probes, study)
    print(text)
    if options.write:
        write_readme_section("train", text)


if __name__ == "__main__":
    main()
