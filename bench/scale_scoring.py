"""Scoring a run at MS MARCO scale: ``bixse.evaluation.evaluate_run`` (default measures nDCG@10,
MRR@10, R@100, MAP) against pytrec_eval called directly on the same qrels and run, in the same
process (best of 3 each, taking turns).

Synthetic data: ``num_queries`` queries, each with 1-5 graded judgements (grades 0-3, the first
one >= 1; about 60% of the judged documents are in the run) and a ``depth``-document run drawn
from a pool of 1M doc ids, scores rounded to 0.01 in [0, 30) (BM25-like: some ties).

Peer: ``pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank", "recall.100",
"map"}, relevance_level=1).evaluate(run)``. The values must agree per query: nDCG@10, R@100 and
MAP to 1e-9, and MRR@10 with the peer's recip_rank where its rank (1 / recip_rank) is <= 10, else 0.

Run: ``.venv/bin/python bench/scale_scoring.py --queries 100000 --depth 100`` (prints JSON).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bixse.evaluation import evaluate_run

POOL = 1_000_000
PEER_MEASURES = {"ndcg_cut.10", "recip_rank", "recall.100", "map"}


def synthetic_qrels_and_run(num_queries: int, depth: int, seed: int = 0) -> tuple[dict, dict]:
    """Graded qrels (1-5 judgements a query) and a ``depth``-document run for every query."""
    rng = np.random.default_rng(seed)
    pool = np.array([str(i) for i in range(POOL)], dtype=object)  # shared id strings, as a reader interns them
    gaps = rng.integers(1, 8, size=(num_queries, depth))
    starts = rng.integers(0, POOL - 8 * depth, size=num_queries)
    retrieved = starts[:, None] + np.cumsum(gaps, axis=1)  # distinct ids within a query
    scores = np.round(rng.random((num_queries, depth)) * 30, 2)
    num_judged = rng.integers(1, 6, size=num_queries)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(num_queries):
        docs = pool[retrieved[q]].tolist()
        run[f"q{q}"] = dict(zip(docs, scores[q].tolist()))
        k = int(num_judged[q])
        in_run = rng.random(k) < 0.6
        positions, others = rng.integers(0, depth, size=k), rng.integers(0, POOL, size=k)
        grades = rng.integers(0, 4, size=k)
        grades[0] = max(int(grades[0]), 1)  # every query has a relevant document
        judged = {}
        for i in range(k):
            judged[docs[positions[i]] if in_run[i] else pool[others[i]]] = int(grades[i])
        if not any(g >= 1 for g in judged.values()):  # a duplicate id overwrote the relevant one
            judged[docs[0]] = 1
        qrels[f"q{q}"] = judged
    return qrels, run


def peer(qrels: dict, run: dict) -> dict[str, dict[str, float]]:
    import pytrec_eval

    return pytrec_eval.RelevanceEvaluator(qrels, PEER_MEASURES, relevance_level=1).evaluate(run)


def best_of(functions: dict[str, Callable[[], Any]], repeats: int = 3) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Every function's times over ``repeats`` rounds, taking turns (the first one alternates),
    and each one's last output. A full collection before each call, so that none pays for
    another's garbage."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    outputs: dict[str, Any] = {}
    names = list(functions)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            outputs.pop(name, None)
            gc.collect()
            start = time.perf_counter()
            outputs[name] = functions[name]()
            times[name].append(time.perf_counter() - start)
    return times, outputs


def max_differences(ours: Any, theirs: dict[str, dict[str, float]]) -> dict[str, float]:
    """Largest per-query difference of each measure (MRR@10 against recip_rank cut at 10)."""
    def rr_at_10(rr: float) -> float:
        return rr if rr > 0 and round(1 / rr) <= 10 else 0.0

    pairs = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "MAP": "map"}
    diffs = {m: max(abs(ours.per_query[m][q] - v[key]) for q, v in theirs.items()) for m, key in pairs.items()}
    diffs["MRR@10"] = max(abs(ours.per_query["MRR@10"][q] - rr_at_10(v["recip_rank"])) for q, v in theirs.items())
    return diffs


def measure_scoring(num_queries: int, depth: int) -> dict:
    """Times of ``evaluate_run`` (default measures) and of pytrec_eval on ``num_queries`` x
    ``depth``; ratio = peer time / bixse time (> 1: bixse is faster). Raises if the values
    disagree (nDCG@10, R@100, MAP beyond 1e-9; MRR@10 at all)."""
    qrels, run = synthetic_qrels_and_run(num_queries, depth)
    times, outputs = best_of({"bixse": lambda: evaluate_run(run, qrels), "pytrec_eval": lambda: peer(qrels, run)})
    ours, theirs = outputs["bixse"], outputs["pytrec_eval"]
    if set(theirs) != set(ours.query_ids):
        raise AssertionError("bixse and pytrec_eval scored different queries")
    diffs = max_differences(ours, theirs)
    if max(diffs["nDCG@10"], diffs["R@100"], diffs["MAP"]) > 1e-9 or diffs["MRR@10"] > 0:
        raise AssertionError(f"values disagree: {diffs}")
    bixse_s, peer_s = min(times["bixse"]), min(times["pytrec_eval"])
    return {
        "queries": num_queries, "depth": depth, "judgements": sum(map(len, qrels.values())),
        "bixse_s": bixse_s, "pytrec_eval_s": peer_s, "ratio": peer_s / bixse_s,
        "bixse_runs_s": times["bixse"], "pytrec_eval_runs_s": times["pytrec_eval"],
        "max_abs_diff": diffs, "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(measure_scoring(args.queries, args.depth), indent=2))


if __name__ == "__main__":
    main()
