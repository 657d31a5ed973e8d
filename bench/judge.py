"""Judging benchmarks: judgements per second on this CPU, batched vs one pair at a time
(the peer run, same process, same pairs, 2 torch threads).

1. LLM judge, offline SmolLM2-135M-Instruct (GGUF dequantised to fp32), 0-3 grade prompt,
   256-token document budget: ``judge.judge(batch of 8)`` vs ``judge.judge([pair])`` per pair;
   then bf16 CPU autocast vs fp32 on the same batches (speed, and what it does to the scores).
2. Bi-encoder teacher, packaged all-MiniLM-L6-v2 (cosine): one ``judge.judge(all pairs)``
   vs one call per pair; each run starts with an empty embedding memo.

Pairs: BM25 top-k candidates of Cranfield train queries (``bixse.mining.mine_candidates``).
No label cache is involved: these are raw judge speeds. The runs being compared take turns
chunk by chunk (``Clock.interleave``), so other jobs on the 2 cores slow them alike.

Run: ``.venv/bin/python bench/judge.py [--write] [--llm-pairs 16] [--teacher-pairs 200]``
(``--write`` puts the results into bench/README.md between the judge markers).
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from readme_section import write_readme_section
from scipy.stats import kendalltau

from bixse.collections import load
from bixse.environment import describe_cpu
from bixse.judging import BiEncoderJudge, Judge, LLMJudge
from bixse.judging.base import Judgement, Pair
from bixse.mining import mine_candidates

LLM_BATCH = 8


class Clock:
    """Wall and process-CPU seconds summed per configuration over interleaved chunks.

    Configurations take turns on each chunk of pairs (order rotated per chunk), so a change
    in what else runs on the machine hits all of them alike."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.scores: dict[str, list[float]] = {}

    def run(self, name: str, function: Callable[[], list[float]]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        values = function()
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
        self.scores.setdefault(name, []).extend(values)

    def interleave(self, chunks: Sequence[Sequence[Pair]], runs: dict[str, Callable[[Sequence[Pair]], list[float]]]) -> None:
        names = list(runs)
        for index, chunk in enumerate(chunks):
            for name in names[index % len(names):] + names[:index % len(names)]:
                self.run(name, lambda: runs[name](chunk))  # noqa: B023 (called at once)

    def table(self, pairs: int, peer: str, rows: Sequence[tuple[str, str]]) -> list[str]:
        lines = ["| run | wall s | judgements/s | vs one at a time | CPU s |", "|---|---:|---:|---:|---:|"]
        for name, label in rows:
            lines.append(f"| {label} | {self.wall[name]:.1f} | {pairs / self.wall[name]:.2f} | "
                         f"{self.wall[peer] / self.wall[name]:.2f}x | {self.cpu[name]:.1f} |")
        return lines


def scores(results: Sequence[Any]) -> list[float]:
    assert all(isinstance(r, Judgement) for r in results), "the benchmark pairs must all be labelled"
    return [r.score for r in results]


def one_at_a_time(judge: Judge, pairs: Sequence[Pair]) -> list[float]:
    return [scores(judge.judge([pair]))[0] for pair in pairs]


def chunked(pairs: Sequence[Pair], size: int) -> list[Sequence[Pair]]:
    return [pairs[start:start + size] for start in range(0, len(pairs), size)]


def bench_llm(pairs: Sequence[Pair]) -> list[str]:
    start = time.perf_counter()
    fp32 = LLMJudge()
    fp32.judge(pairs[:1])  # loads the model (and warms up)
    load_s = time.perf_counter() - start
    bf16 = LLMJudge(precision="bf16")
    bf16._model, bf16._tokenizer = fp32._model, fp32._tokenizer  # same weights, no second load
    bf16._setup_labels()
    bf16.judge(pairs[:1])
    clock = Clock()
    clock.interleave(chunked(pairs, LLM_BATCH), {
        "single": lambda chunk: one_at_a_time(fp32, chunk),
        "batch": lambda chunk: scores(fp32.judge(chunk)),
        "bf16": lambda chunk: scores(bf16.judge(chunk)),
    })
    n = len(pairs)
    padding_diff = max(abs(a - b) for a, b in zip(clock.scores["batch"], clock.scores["single"]))
    bf16_diffs = [abs(a - b) for a, b in zip(clock.scores["batch"], clock.scores["bf16"])]
    tau = kendalltau(clock.scores["batch"], clock.scores["bf16"])[0]
    return [
        f"LLM judge, SmolLM2-135M-Instruct (offline default, GGUF -> fp32), 0-3 grades, 256-token "
        f"document budget, {n} pairs (model load {load_s:.1f} s):",
        "",
        *clock.table(n, "single", [("single", "one pair per call (peer)"),
                                   ("batch", f"batches of {LLM_BATCH}, left-padded, fp32 (default)"),
                                   ("bf16", f"batches of {LLM_BATCH}, bf16 autocast")]),
        "",
        f"Batched vs one-at-a-time scores: max |diff| {padding_diff:.1e} (left padding changes nothing). "
        f"bf16 vs fp32 scores: mean |diff| {statistics.mean(bf16_diffs):.3f}, max {max(bf16_diffs):.3f}, "
        f"Kendall tau {tau:.3f}; bf16 runs at {clock.wall['batch'] / clock.wall['bf16']:.2f}x the fp32 speed. "
        "fp32 stays the default: bf16 reorders pairs the fp32 judge ranks, and the precision is part of the "
        "judge identity, so the two never share cached labels.",
    ]


def bench_teacher(pairs: Sequence[Pair]) -> list[str]:
    judge = BiEncoderJudge("all-MiniLM-L6-v2")
    judge.judge(pairs[:2])  # load + warm up

    def fresh(function: Callable[[], list[float]]) -> list[float]:
        judge._memo.clear()  # every run encodes its texts itself
        return function()

    clock = Clock()
    clock.interleave(chunked(pairs, 40), {
        "single": lambda chunk: fresh(lambda: one_at_a_time(judge, chunk)),
        "batch": lambda chunk: fresh(lambda: scores(judge.judge(chunk))),
    })
    diff = max(abs(a - b) for a, b in zip(clock.scores["batch"], clock.scores["single"]))
    n = len(pairs)
    return [
        f"Bi-encoder teacher, packaged all-MiniLM-L6-v2 (cosine, clip mapping), {n} pairs in chunks of 40 "
        "(2 queries x 20 candidates; each distinct text encoded once per run):",
        "",
        *clock.table(n, "single", [("single", "one pair per call (peer)"),
                                   ("batch", f"one call per chunk, encode batches of {judge.encode_batch_size}")]),
        "",
        f"Batched vs one-at-a-time scores: max |diff| {diff:.1e}.",
    ]


def candidate_pairs(queries: int, per_query: int) -> list[Pair]:
    candidates = mine_candidates(load("cranfield"), "train", "bm25", top_k=per_query)
    query_ids = list(dict.fromkeys(c.query_id for c in candidates))[:queries]
    return [(c.query, c.document) for c in candidates if c.query_id in set(query_ids)]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    parser.add_argument("--llm-pairs", type=int, default=16, help="pairs for the LLM judge (BM25 top 8 per query)")
    parser.add_argument("--teacher-pairs", type=int, default=200, help="pairs for the teacher (BM25 top 20 per query)")
    args = parser.parse_args()
    llm_pairs = candidate_pairs(-(-args.llm_pairs // 8), 8)[:args.llm_pairs]
    teacher_pairs = candidate_pairs(-(-args.teacher_pairs // 20), 20)[:args.teacher_pairs]
    lines = [f"Run `.venv/bin/python bench/judge.py --write` ({platform.processor() or platform.machine()}, "
             f"{THREADS} torch threads, torch {torch.__version__}). Machine: {describe_cpu()}, no GPU; "
             f"{time.strftime('%Y-%m-%d')}. Pairs: Cranfield train queries' BM25 candidates.", ""]
    load_before = os.getloadavg()[0]
    lines += bench_teacher(teacher_pairs) + [""]
    lines += bench_llm(llm_pairs)
    # Other jobs may share the 2 cores: absolute rates move with them, the in-process ratios much less.
    lines += ["", f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
              f"(2 cores): absolute rates are only comparable at a similar load; the ratios are the result."]
    block = "\n".join(lines)
    print(block)
    if args.write:
        write_readme_section("judge", block)


if __name__ == "__main__":
    main()
