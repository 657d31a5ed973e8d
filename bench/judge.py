"""Judging benchmarks: judgements per second on this CPU, batched vs one pair at a time
(the peer run, same process, same pairs, 2 torch threads).

1. LLM judge, offline SmolLM2-135M-Instruct (GGUF dequantised to fp32), 0-3 grade prompt,
   256-token document budget: ``judge.judge([pair])`` per pair (the peer); calls of 8 pairs with
   every prompt encoded whole (``share_prefix=False``: the default before prefix sharing); calls
   of 32 pairs run as length-sorted passes of 8 with each query's instructions + query encoded
   once (the default now); the same in bf16 autocast. Next to
   them the FLOP bound: the forward-pass FLOPs of one judgement counted by
   ``torch.utils.flop_counter.FlopCounterMode`` (unshared: the whole prompt; shared: the
   suffix plus the prefix's FLOPs over the candidates that share it), against this CPU's
   measured fp32 matmul rate (best of 5 square 2048 products at the same threads).
2. Bi-encoder teacher, packaged all-MiniLM-L6-v2 (cosine): one ``judge.judge(all pairs)``
   vs one call per pair; each run starts with an empty embedding memo.

Pairs: BM25 top-k candidates of Cranfield train queries (``bixse.mining.mine_candidates``).
No label cache is involved: these are raw judge speeds. The runs being compared take turns
chunk by chunk (``Clock.interleave``), so other jobs on the 2 cores slow them alike.

Run: ``.venv/bin/python bench/judge.py [--write] [--llm-pairs 40] [--llm-per-query 20] [--teacher-pairs 200]``
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
from torch.utils.flop_counter import FlopCounterMode
from readme_section import publish
from scipy.stats import kendalltau

from bixse.collections import load
from bixse.environment import describe_cpu
from bixse.judging import BiEncoderJudge, Judge, LLMJudge
from bixse.judging.base import Judgement, Pair
from bixse.mining import mine_candidates

LLM_BATCH = LLMJudge.default_batch_size  # what bixse judge passes per call
OLD_LLM_BATCH = 8  # the default before prefix sharing


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


def matmul_flops_per_second(size: int = 2048, repeats: int = 5) -> float:
    """This CPU's fp32 matrix-product rate at the benchmark's threads: the FLOP bound's denominator."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best


def _timed(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def forward_flops(function: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def judgement_flops(judge: LLMJudge, pairs: Sequence[Pair]) -> tuple[float, float]:
    """Mean forward FLOPs per judgement over ``pairs``: (whole prompt, shared prefix + suffix)."""
    whole = [forward_flops(lambda: judge.next_token_logprobs([judge.render(*pair)])) for pair in pairs]  # noqa: B023
    by_query: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_query.setdefault(pair[0], []).append(pair)
    shared = 0.0
    for query, group in by_query.items():
        prefix = judge.query_prefix(query)
        with torch.inference_mode():
            shared += forward_flops(lambda: judge._model(input_ids=torch.tensor([prefix])))  # noqa: B023
            judge._prefix_cache.get(judge._model, prefix, judge.device)  # cached: the rows below run suffixes only
        shared += sum(forward_flops(lambda: judge.shared_prefix_logprobs(  # noqa: B023
            prefix, [judge.token_ids(judge.render(*pair))[len(prefix):]])) for pair in group)  # noqa: B023
    return statistics.mean(whole), shared / len(pairs)


def bench_llm(pairs: Sequence[Pair]) -> list[str]:
    start = time.perf_counter()
    shared = LLMJudge()
    shared.judge(pairs[:1])  # loads the model (and warms up)
    load_s = time.perf_counter() - start

    def sibling(**options: Any) -> LLMJudge:
        judge = LLMJudge(**options)
        judge._model, judge._tokenizer = shared._model, shared._tokenizer  # same weights, no second load
        judge._setup_labels()
        judge.judge(pairs[:1])
        return judge

    whole, bf16 = sibling(share_prefix=False), sibling(precision="bf16")
    clock = Clock()
    clock.interleave(chunked(pairs, LLM_BATCH), {
        "single": lambda chunk: one_at_a_time(whole, chunk),
        "batch": lambda chunk: [score for part in chunked(chunk, OLD_LLM_BATCH) for score in scores(whole.judge(part))],
        "shared": lambda chunk: scores(shared.judge(chunk)),
        "bf16": lambda chunk: scores(bf16.judge(chunk)),
    })
    n = len(pairs)
    rate = matmul_flops_per_second()
    flops_whole, flops_shared = judgement_flops(whole, pairs)
    bound_whole, bound_shared = rate / flops_whole, rate / flops_shared
    padding_diff = max(abs(a - b) for a, b in zip(clock.scores["batch"], clock.scores["single"]))
    shared_diff = max(abs(a - b) for a, b in zip(clock.scores["batch"], clock.scores["shared"]))
    bf16_diffs = [abs(a - b) for a, b in zip(clock.scores["shared"], clock.scores["bf16"])]
    tau = kendalltau(clock.scores["shared"], clock.scores["bf16"])[0]
    per_query = n / len({query for query, _ in pairs})
    speed = {name: n / clock.wall[name] for name in clock.wall}
    return [
        f"LLM judge, SmolLM2-135M-Instruct (offline default, GGUF -> fp32), 0-3 grades, 256-token "
        f"document budget, {n} pairs, {per_query:.0f} candidates per query (model load {load_s:.1f} s):",
        "",
        *clock.table(n, "single", [("single", "one pair per call (peer)"),
                                   ("batch", f"calls of {OLD_LLM_BATCH}, whole prompts, fp32 (before)"),
                                   ("shared", f"calls of {LLM_BATCH}, length-sorted passes of {shared.rows_per_pass}, "
                                              "shared query prefix, fp32 (default)"),
                                   ("bf16", f"calls of {LLM_BATCH}, as above, bf16 autocast")]),
        "",
        f"FLOP bound: this CPU multiplies fp32 matrices at {rate / 1e9:.0f} GFLOP/s ({THREADS} threads); a "
        f"judgement costs {flops_whole / 1e9:.1f} GFLOP as a whole prompt and {flops_shared / 1e9:.1f} GFLOP with "
        f"its query's prefix shared by {per_query:.0f} candidates, so the bound is {bound_whole:.2f} judgements/s "
        f"unshared and {bound_shared:.2f} shared. Measured: {speed['batch']:.2f}/s before "
        f"({speed['batch'] / bound_whole:.0%} of the unshared bound), {speed['shared']:.2f}/s with the shared "
        f"prefix ({speed['shared'] / bound_whole:.0%} of the unshared bound, {speed['shared'] / bound_shared:.0%} "
        f"of the shared one), {speed['shared'] / speed['batch']:.2f}x faster.",
        "",
        f"Batched vs one-at-a-time scores: max |diff| {padding_diff:.1e} (left padding changes nothing); shared "
        f"prefix vs whole prompts: max |diff| {shared_diff:.1e}. bf16 vs fp32 scores: mean |diff| "
        f"{statistics.mean(bf16_diffs):.3f}, max {max(bf16_diffs):.3f}, Kendall tau {tau:.3f}; bf16 runs at "
        f"{clock.wall['shared'] / clock.wall['bf16']:.2f}x the fp32 speed. fp32 stays the default: bf16 reorders "
        "pairs the fp32 judge ranks, and the precision is part of the judge identity, so the two never share "
        "cached labels.",
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
    parser.add_argument("--llm-pairs", type=int, default=40, help="pairs for the LLM judge")
    parser.add_argument("--llm-per-query", type=int, default=20, help="the LLM judge's candidates per query (BM25 "
                        "top k, as `bixse mine -k`): the pairs that share one query's prefix")
    parser.add_argument("--teacher-pairs", type=int, default=200, help="pairs for the teacher (BM25 top 20 per query)")
    args = parser.parse_args()
    llm_pairs = candidate_pairs(-(-args.llm_pairs // args.llm_per_query), args.llm_per_query)[:args.llm_pairs]
    teacher_pairs = candidate_pairs(-(-args.teacher_pairs // 20), 20)[:args.teacher_pairs]
    command = (f".venv/bin/python bench/judge.py --llm-pairs {args.llm_pairs} --llm-per-query {args.llm_per_query} "
               f"--teacher-pairs {args.teacher_pairs} --write")
    lines = [f"Run `{command}` ({platform.processor() or platform.machine()}, "
             f"{THREADS} torch threads, torch {torch.__version__}). Machine: {describe_cpu()}, no GPU; "
             f"{time.strftime('%Y-%m-%d')}. Pairs: Cranfield train queries' BM25 candidates.", ""]
    load_before = os.getloadavg()[0]
    lines += bench_teacher(teacher_pairs) + [""]
    lines += bench_llm(llm_pairs)
    # Other jobs may share the 2 cores: absolute rates move with them, the in-process ratios much less.
    lines += ["", f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
              f"(2 cores): absolute rates are only comparable at a similar load; the ratios are the result."]
    publish("judge", lines, args.write)


if __name__ == "__main__":
    main()
