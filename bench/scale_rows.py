"""Training rows at MS MARCO scale: time and memory from graded pairs to the first batch.

Synthetic graded pairs (``GradedPair``), ``--pairs`` of them: about 10 per query, each query's
documents drawn from a shared pool of about ``pairs / 4`` documents of about 300 characters (so
most documents are judged for several queries), scores in {0, .25, .5, .75, 1}, query and
document ids set. Each pair holds its own copy of its texts, as pairs read from a JSONL file do.

Stages, in one fresh child process, in order:

- ``generate``: the pairs (the input; not bixse's cost);
- ``build_rows``: ``bixse.training.dataset.build_rows`` (layout ``--layout``, ``--hard-negatives``);
- ``to_dataset``: ``BuiltDataset.to_dataset()``, the ``datasets.Dataset`` the trainer reads;
- ``sampler``: ``QueryBatchSampler`` set-up (the row keys);
- ``first_batch``: the first batch of epoch 0 (``compose_batches`` of the whole epoch) and its rows
  read from the dataset.

Per stage: wall seconds; ``peak_added_mib``, what the stage raised the process's RSS high-water
mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) by (0 when it stayed below an earlier
stage's peak); ``rss_mib`` and ``anon_mib``, the resident and the anonymous (not file-backed)
memory after the stage, from /proc/self/status (a memory-mapped Arrow file's pages count as
resident but not anonymous: the kernel can drop them).

Run: ``.venv/bin/python bench/scale_rows.py --pairs 1000000`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORDS = ("the of and in to a is for on with by as that from at are be this which an or was it flow "
         "pressure heat boundary layer surface shock wave velocity temperature number mach body wing "
         "theory method results solution equation model data system effect effects analysis study "
         "experimental test values given obtained found shown measured large small high low").split()


def _status_mib() -> dict[str, float]:
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                fields[name] = int(value.split()[0]) / 1024
    return {"rss_mib": round(fields.get("VmRSS", 0.0), 1), "anon_mib": round(fields.get("RssAnon", 0.0), 1)}


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synthetic_pairs(num_pairs: int, seed: int = 0, pairs_per_query: int = 10) -> list[Any]:
    from bixse.collections.training_data import GradedPair

    rng = random.Random(seed)
    pool_size = max(50, num_pairs // 4)
    pool = []
    for _ in range(pool_size):
        words, length = [], 0
        while length < 300:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        pool.append(" ".join(words))
    pairs = []
    queries = max(1, num_pairs // pairs_per_query)
    for q in range(queries):
        count = pairs_per_query if q < queries - 1 else num_pairs - pairs_per_query * (queries - 1)
        query = f"question {q}: " + " ".join(rng.choice(WORDS) for _ in range(8))
        chosen: set[int] = set()
        while len(chosen) < min(count, pool_size):
            chosen.add(rng.randrange(pool_size))
        for d in sorted(chosen, key=lambda _: rng.random()):
            text = pool[d]
            # A copy of each text per pair, as reading a JSONL file of pairs gives.
            score = rng.choice((0.0, 0.25, 0.5, 0.75, 1.0))
            pairs.append(GradedPair(query[:-1] + query[-1], text[:-1] + text[-1], score, f"q{q}", f"d{d}"))
    return pairs


def _child(num_pairs: int, layout: str, hard_negatives: int, batch_size: int, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(2)
    from bixse.training.dataset import build_rows
    from bixse.training.sampler import QueryBatchSampler

    stages: dict[str, dict[str, float]] = {}
    state: dict[str, Any] = {}
    result: dict[str, Any] = {"pairs": num_pairs, "layout": layout, "hard_negatives": hard_negatives,
                              "batch_size": batch_size, "start": {"maxrss_mib": round(_maxrss_mib(), 1),
                                                                  **_status_mib()}, "stages": stages}

    def stage(name: str, work: Any) -> None:
        before = _maxrss_mib()
        started = time.perf_counter()
        state[name] = work()
        seconds = time.perf_counter() - started
        after = _maxrss_mib()
        stages[name] = {"seconds": round(seconds, 3), "peak_added_mib": round(after - before, 1),
                        "maxrss_mib": round(after, 1), **_status_mib()}

    stage("generate", lambda: synthetic_pairs(num_pairs, seed))
    stage("build_rows", lambda: build_rows(state["generate"], layout, loss="bixse", hard_negatives=hard_negatives))
    stage("to_dataset", lambda: state["build_rows"].to_dataset())
    stage("sampler", lambda: QueryBatchSampler(state["to_dataset"], batch_size=batch_size, drop_last=False,
                                               seed=seed, world=1))

    def first_batch() -> Any:
        batch = next(iter(state["sampler"]))
        rows = state["to_dataset"][batch]
        assert len(rows["query"]) == len(batch)
        return batch

    stage("first_batch", first_batch)
    built, dataset = state["build_rows"], state["to_dataset"]
    result.update(rows=built.num_rows, queries=built.num_queries, slots=built.slots,
                  batches=len(state["sampler"]), dataset_cache_files=len(dataset.cache_files),
                  total_seconds=round(sum(s["seconds"] for n, s in stages.items() if n != "generate"), 3),
                  maxrss_mib=round(_maxrss_mib(), 1))
    return result


def measure_training_rows(num_pairs: int, *, layout: str = "pointwise", hard_negatives: int = 0,
                          batch_size: int = 32, seed: int = 0, timeout: float | None = None) -> dict:
    """Time and memory of build_rows -> to_dataset -> sampler set-up -> first batch, in a fresh process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--pairs", str(num_pairs),
               "--layout", layout, "--hard-negatives", str(hard_negatives), "--batch-size", str(batch_size),
               "--seed", str(seed)]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child exited {done.returncode}: {done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--layout", default="pointwise",
                        choices=("pointwise", "contrastive", "multi_positive", "scored_list"))
    parser.add_argument("--hard-negatives", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.pairs, args.layout, args.hard_negatives, args.batch_size, args.seed)))
        return
    result = measure_training_rows(args.pairs, layout=args.layout, hard_negatives=args.hard_negatives,
                                   batch_size=args.batch_size, seed=args.seed)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
