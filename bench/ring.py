"""Per-rank memory of BiXSE across ranks: ring exchange (``bixse_ring``) against all-gather (``bixse``).

Model-free: each rank holds B query and B document embeddings (d = 384, leaf tensors requiring
grad) and runs one forward + backward of the loss on gloo processes of this machine. Peak memory
per rank is the rise of the process's resident-set high-water mark (``ru_maxrss``) over the
forward + backward, after inputs and a warm-up at a tiny batch are in place; the figure is the
largest over ranks. Each (loss, world size) runs in a fresh process group, both losses at the
same per-rank batch, so the ratio of ring to all-gather at each world size is a like-for-like
comparison in one run.

The ranks run with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB (unless already set): by
default glibc raises that threshold to the size of each large block freed, after which the
scores of the next block come from the heap and freed ones stay resident, so the high-water mark
grows with the number of blocks visited (hops) although live memory does not (measured: the ring
+24% from 2 to 4 ranks by default, +5% with the threshold fixed). With it fixed every large
tensor is mapped and unmapped, and the mark follows live tensors, as a GPU allocator's peak would.

Run: ``.venv/bin/python bench/ring.py [--rows 2048] [--worlds 1 2 4] [--write]``.
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import os
import resource
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from readme_section import publish

from bixse.environment import describe_cpu
from bixse.losses import get_loss

DIM = 384
MMAP_THRESHOLD = "MALLOC_MMAP_THRESHOLD_"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _step(name: str, rows: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(rows, DIM, generator=generator).requires_grad_(True)
    docs = torch.randn(rows, 1, DIM, generator=generator).requires_grad_(True)
    labels = (torch.rand(rows, 1, generator=generator) * 4).floor() / 4
    loss = get_loss(name, bias=-10.0)
    started = time.perf_counter()
    loss.compute_loss_from_embeddings(query, docs, labels).backward()
    return time.perf_counter() - started


def _rank_main(rank: int, world: int, port: int, name: str, rows: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _step(name, 8, seed=rank)  # warm-up: imports, allocator, communicator
        before = _peak_mib()
        seconds = _step(name, rows, seed=rank)
        (Path(out_dir) / f"{rank}.txt").write_text(f"{_peak_mib() - before} {seconds}")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(name: str, world: int, rows: int) -> tuple[float, float]:
    """(largest per-rank peak rise in MiB, slowest rank's seconds) of one forward + backward."""
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_rank_main, args=(world, _free_port(), name, rows, out_dir), nprocs=world, join=True)
        figures = [tuple(map(float, (Path(out_dir) / f"{r}.txt").read_text().split())) for r in range(world)]
    return max(f[0] for f in figures), max(f[1] for f in figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048, help="queries (and documents) per rank")
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    parser.add_argument("--max-gather-rows", type=int, default=8192,
                        help="skip all-gather where world * rows exceeds this (its (Q, N) masks alone "
                             "would take world * rows squared bytes per rank, on every rank of one machine)")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    args = parser.parse_args()
    os.environ.setdefault(MMAP_THRESHOLD, "65536")  # read by each spawned rank's glibc at start
    results = {(name, world): measure(name, world, args.rows) for world in args.worlds
               for name in ("bixse", "bixse_ring")
               if name == "bixse_ring" or world * args.rows <= args.max_gather_rows}
    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {describe_cpu()}, torch {torch.__version__}, "
             f"gloo processes of 1 thread each, {MMAP_THRESHOLD}={os.environ[MMAP_THRESHOLD]}; B = {args.rows:,} queries and documents per rank, d = {DIM}; "
             f"command: `.venv/bin/python bench/ring.py --rows {args.rows} --worlds "
             f"{' '.join(map(str, args.worlds))} --write`.", "",
             "| ranks | all-gather peak per rank (MiB) | ring peak per rank (MiB) | ring / all-gather | "
             "all-gather s | ring s |", "|---:|---:|---:|---:|---:|---:|"]
    for world in args.worlds:
        ring_mib, ring_s = results[("bixse_ring", world)]
        if ("bixse", world) not in results:
            lines.append(f"| {world} | skipped ({world} x {args.rows:,} rows) | {ring_mib:,.0f} | | | {ring_s:.2f} |")
            continue
        gather_mib, gather_s = results[("bixse", world)]
        lines.append(f"| {world} | {gather_mib:,.0f} | {ring_mib:,.0f} | {ring_mib / gather_mib:.2f}x | "
                     f"{gather_s:.2f} | {ring_s:.2f} |")
    lines.append("")
    for low, high in ((2, 4), (4, 8)):
        growth = {name: results[(name, high)][0] / results[(name, low)][0] - 1
                  for name in ("bixse", "bixse_ring") if (name, low) in results and (name, high) in results}
        if growth:
            lines.append(f"From {low} to {high} ranks the peak per rank grows "
                         + " and ".join(f"{value:+.0%} with {'the ring' if name == 'bixse_ring' else 'all-gather'}"
                                        for name, value in growth.items()) + ".")
    publish("ring", lines, args.write)


if __name__ == "__main__":
    main()
