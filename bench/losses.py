"""Loss benchmarks: forward + backward of every registered loss vs MultipleNegativesRankingLoss.

Model-free: random embeddings requiring grad at B = 512, d = 384, for pairs (M = 1) and with three
hard negatives (M = 4), graded labels (slot 0 = 1.0, hard negatives drawn from {0, .25, .5, .75}).
Each loss runs ``compute_loss_from_embeddings`` + ``backward``; the peer is sentence-transformers'
``MultipleNegativesRankingLoss.compute_loss_from_embeddings`` (scale 20, cosine) on the same
tensors, timed in the same rounds (interleaved, so machine load hits both alike). Best of the
rounds (the least disturbed by other jobs); ratio = loss time / MNRL time.

Run: ``.venv/bin/python bench/losses.py [--write] [--rounds N]`` (``--write`` puts the table into
bench/README.md between the losses markers).
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import time
from collections.abc import Callable

import torch
from readme_section import write_readme_section
from sentence_transformers.sentence_transformer.losses import (
    MultipleNegativesRankingLoss,
)

from bixse.environment import describe_cpu
from bixse.losses import LOSSES, get_loss

BATCH, DIM = 512, 384
# Registered defaults, plus the MW loss with its cheaper per-query pool.
VARIANTS: list[tuple[str, str, dict]] = [(name, name, {}) for name in sorted(LOSSES)
                                         if not getattr(LOSSES[name], "needs_distributed", False)] + [
    ("mw_auc (negative_pool=query)", "mw_auc", {"negative_pool": "query"}),
]


def make_batch(slots: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(BATCH, DIM, generator=generator)
    docs = torch.randn(BATCH, slots, DIM, generator=generator)
    labels = torch.randint(0, 4, (BATCH, slots), generator=generator).float() / 4
    labels[:, 0] = 1.0
    return query, docs, labels


def fwd_bwd(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
            query: torch.Tensor, docs: torch.Tensor) -> float:
    """Seconds for one forward + backward from fresh leaf embeddings."""
    query, docs = query.clone().requires_grad_(True), docs.clone().requires_grad_(True)
    start = time.perf_counter()
    function(query, docs).backward()
    return time.perf_counter() - start


def bench_slots(slots: int, rounds: int) -> dict[str, float]:
    """Best-of-rounds seconds of MNRL and every variant at ``slots`` document slots."""
    query, docs, labels = make_batch(slots)
    mnrl = MultipleNegativesRankingLoss(None)
    runners: dict[str, Callable] = {
        "MNRL": lambda q, d: mnrl.compute_loss_from_embeddings([q, *d.unbind(1)], None)}
    for label, name, params in VARIANTS:
        loss = get_loss(name, **params)
        runners[label] = lambda q, d, loss=loss: loss.compute_loss_from_embeddings(q, d, labels)
    times: dict[str, list[float]] = {label: [] for label in runners}
    for round_index in range(rounds + 1):  # round 0 warms up
        for label, runner in runners.items():
            seconds = fwd_bwd(runner, query, docs)
            if round_index:
                times[label].append(seconds)
    return {label: min(values) for label, values in times.items()}


def table(results: dict[tuple[int, int], dict[str, float]]) -> str:
    """Rows: losses; columns: ms and ratio at 2 threads for each M, then the 1-thread ratios."""
    slot_counts = sorted({slots for _, slots in results})
    header = ("| loss | layout | "
              + " | ".join(f"M={m}: ms | M={m}: x MNRL" for m in slot_counts) + " | "
              + " | ".join(f"1 thread, M={m}: x MNRL" for m in slot_counts) + " |")
    lines = [header, "|" + "---|" * (2 + 3 * len(slot_counts))]
    for label in ["MNRL", *(label for label, _, _ in VARIANTS)]:
        layout = LOSSES[label.split(" ")[0]].layout if label != "MNRL" else "contrastive"
        cells = []
        for m in slot_counts:
            seconds = results[THREADS, m][label]
            cells += [f"{seconds * 1e3:.1f}", f"{seconds / results[THREADS, m]['MNRL']:.2f}"]
        cells += [f"{results[1, m][label] / results[1, m]['MNRL']:.2f}" for m in slot_counts]
        lines.append(f"| {label} | {layout} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (after one warm-up round)")
    args = parser.parse_args()
    results = {}
    # 2 threads is the setting reported; 1 thread is a check that is far less disturbed when other
    # jobs share the 2 cores (two OpenMP threads stall on each other's preemption).
    for threads in (THREADS, 1):
        torch.set_num_threads(threads)
        for slots in (1, 4):
            results[threads, slots] = bench_slots(slots, args.rounds)
            timings = {k: round(v * 1e3, 1) for k, v in results[threads, slots].items()}
            print(f"threads={threads} M={slots}", timings, flush=True)
    intro = (
        f"Forward + backward of each loss on random embeddings requiring grad, B = {BATCH}, "
        f"d = {DIM}, M = 1 (pairs) and M = 4 (3 hard negatives), best of {args.rounds} interleaved "
        "rounds; peer: sentence-transformers 6.2 "
        "`MultipleNegativesRankingLoss.compute_loss_from_embeddings` (scale 20, cosine) on the same "
        f"tensors in the same run. torch {torch.__version__}, {THREADS} threads (last columns: "
        f"ratios at 1 thread). Machine: {describe_cpu()}, "
        "no GPU, shared with other jobs (absolute ms are noisy, ratios less "
        f"so). Date: {time.strftime('%Y-%m-%d')}. Run: `.venv/bin/python bench/losses.py --write`."
    )
    note = (
        "The MW loss compares every positive with every negative score of the batch (B x B*M "
        "pairs: 134M at M = 1, 537M at M = 4), in chunks with its gradient accumulated in the same "
        "pass; `negative_pool=query` (each query's own negatives only) costs about what InfoNCE does."
    )
    block = "\n".join([intro, "", table(results), "", note])
    print(block)
    if args.write:
        write_readme_section("losses", block)


if __name__ == "__main__":
    main()
