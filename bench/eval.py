"""Evaluation benchmarks, each against its peer run in the same process (2 threads):

1. Encoding the Cranfield corpus (1,400 documents) with the packaged all-MiniLM-L6-v2:
   ``bixse.retrieval.encode_texts`` (fp32 and bf16 autocast) vs sentence-transformers'
   ``model.encode(texts)`` with default settings; plus what bf16 costs in quality (embedding
   cosine to fp32, query-document score differences, nDCG@10 on the Cranfield test split).
2. Exact top-100 search over 100k x 384 random unit vectors (1,000 queries):
   ``bixse.retrieval.exact_search`` (chunked) vs numpy (full score matrix + argpartition).
3. Scoring 10k synthetic graded queries (nDCG@10, MRR@10, R@100, MAP):
   ``bixse.evaluation.evaluate_run`` vs pytrec_eval called directly; agreement to 1e-6.

Run: ``.venv/bin/python bench/eval.py [--write]`` (``--write`` puts the results into
bench/README.md between the eval markers).
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from readme_section import write_readme_section

from bixse.collections import load
from bixse.environment import describe_cpu
from bixse.evaluation import evaluate_run
from bixse.models import load_sentence_transformer
from bixse.retrieval import encode_texts, exact_search, run_from_topk
from bixse.retrieval.cache import corpus_texts

# Documents per interleaved step: each encoder still sorts its own batches by length.
CHUNK = 350


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def interleaved(functions: dict[str, Callable[[Any], Any]], inputs: list[Any]) -> dict[str, list[tuple[float, Any]]]:
    """``(seconds, output)`` of every function on every input, the functions taking turns (in a
    rotating order) input by input, so that load from other processes on a shared machine
    falls on all of them alike."""
    runs: dict[str, list[tuple[float, Any]]] = {name: [] for name in functions}
    names = list(functions)
    for i, item in enumerate(inputs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            runs[name].append(timed(lambda: functions[name](item)))
    return runs


def best_interleaved(functions: dict[str, Callable[[], Any]], repeats: int = 3) -> tuple[dict[str, float], dict[str, Any]]:
    """Best time of ``repeats`` runs of each function, taking turns; and each one's output."""
    runs = interleaved({name: lambda _, f=f: f() for name, f in functions.items()}, [None] * repeats)
    return ({name: min(t for t, _ in values) for name, values in runs.items()},
            {name: values[-1][1] for name, values in runs.items()})


def unit_rows(array: np.ndarray) -> np.ndarray:
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def bench_encoding() -> dict[str, Any]:
    cranfield = load("cranfield")
    doc_ids, texts = corpus_texts(cranfield.corpus)
    test = cranfield.subset("test")
    query_ids = list(test.queries)
    query_texts = [test.queries[q] for q in query_ids]
    model = load_sentence_transformer("all-MiniLM-L6-v2", device="cpu")
    for precision in ("fp32", "bf16"):  # warm up oneDNN kernels for both paths
        encode_texts(model, texts[:64], precision=precision, show_progress=False)
    model.encode(texts[:64])

    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {
        "st": lambda chunk: model.encode(chunk),
        "fp32": lambda chunk: encode_texts(model, chunk, precision="fp32", show_progress=False),
        "bf16": lambda chunk: encode_texts(model, chunk, precision="bf16", show_progress=False),
    }
    runs = interleaved(encoders, [texts[i:i + CHUNK] for i in range(0, len(texts), CHUNK)])
    st_seconds, fp32_seconds, bf16_seconds = (sum(t for t, _ in runs[name]) for name in ("st", "fp32", "bf16"))
    st_embeddings, fp32, bf16 = (np.concatenate([e for _, e in runs[name]]) for name in ("st", "fp32", "bf16"))

    queries = {p: encode_texts(model, query_texts, kind="query", precision=p, show_progress=False)
               for p in ("fp32", "bf16")}
    documents = {"fp32": fp32, "bf16": bf16}
    ndcg = {}
    for precision in ("fp32", "bf16"):
        scores, indices = exact_search(queries[precision], documents[precision], 100)
        run = run_from_topk(query_ids, doc_ids, scores, indices)
        ndcg[precision] = evaluate_run(run, test.qrels, ["nDCG@10"]).aggregate["nDCG@10"]
    doc_cosine = np.sum(unit_rows(fp32) * unit_rows(bf16), axis=1)
    score_fp32 = unit_rows(queries["fp32"]) @ unit_rows(fp32).T
    score_bf16 = unit_rows(queries["bf16"]) @ unit_rows(bf16).T
    return {
        "documents": len(texts), "queries": len(query_ids),
        "st_per_s": len(texts) / st_seconds, "fp32_per_s": len(texts) / fp32_seconds,
        "bf16_per_s": len(texts) / bf16_seconds,
        "fp32_vs_st": st_seconds / fp32_seconds, "bf16_vs_st": st_seconds / bf16_seconds,
        "bf16_vs_fp32": fp32_seconds / bf16_seconds,
        "fp32_vs_st_max_abs": float(np.abs(fp32 - st_embeddings).max()),
        "bf16_min_doc_cosine": float(doc_cosine.min()),
        "bf16_max_score_diff": float(np.abs(score_fp32 - score_bf16).max()),
        "ndcg_fp32": ndcg["fp32"], "ndcg_bf16": ndcg["bf16"],
    }


def numpy_top_k(queries: np.ndarray, documents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The plain numpy way: the whole score matrix, argpartition, then sort the k."""
    scores = queries @ documents.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, 1)
    order = np.argsort(-top_scores, axis=1)
    return np.take_along_axis(top_scores, order, 1), np.take_along_axis(top, order, 1)


def bench_search(num_documents: int = 100_000, num_queries: int = 1_000, dim: int = 384,
                 k: int = 100) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    documents = unit_rows(rng.standard_normal((num_documents, dim), dtype=np.float32))
    queries = unit_rows(rng.standard_normal((num_queries, dim), dtype=np.float32))
    exact_search(queries[:8], documents, k)  # warm-up
    numpy_top_k(queries[:8], documents, k)
    seconds, outputs = best_interleaved({"ours": lambda: exact_search(queries, documents, k, "dot"),
                                         "numpy": lambda: numpy_top_k(queries, documents, k)})
    ours_seconds, numpy_seconds = seconds["ours"], seconds["numpy"]
    (ours_scores, ours_indices), (numpy_scores, numpy_indices) = outputs["ours"], outputs["numpy"]
    return {
        "documents": num_documents, "queries": num_queries, "dim": dim, "k": k,
        "ours_s": ours_seconds, "numpy_s": numpy_seconds, "speedup": numpy_seconds / ours_seconds,
        "same_ranking": float(np.mean(ours_indices == numpy_indices)),
        "max_score_diff": float(np.abs(ours_scores - numpy_scores).max()),
    }


def synthetic_qrels_and_run(num_queries: int, seed: int = 0) -> tuple[dict, dict]:
    """Per query: 30 judged documents with grades 0-4 out of 1,000, and a 100-document run
    that retrieves about half of them."""
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(num_queries):
        judged = rng.choice(1_000, size=30, replace=False)
        grades = rng.integers(0, 5, size=30)
        grades[0] = max(int(grades[0]), 1)  # every query has a relevant document
        qrels[f"q{q}"] = {f"d{d}": int(g) for d, g in zip(judged, grades)}
        retrieved = np.concatenate([judged[:15], rng.choice(np.arange(1_000, 2_000), size=85, replace=False)])
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(retrieved, rng.permutation(100))}
    return qrels, run


def pytrec_eval_scores(qrels: dict, run: dict, relevance_threshold: int) -> dict[str, dict[str, float]]:
    """The same four measures straight from pytrec_eval (trec_eval's ``recip_rank`` has no
    cutoff, so MRR@10 scores the run cut to its top 10)."""
    import pytrec_eval

    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map"},
                                          relevance_level=relevance_threshold).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda item: -item[1])[:10]) for q, docs in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=relevance_threshold).evaluate(top10)
    return {
        "nDCG@10": {q: v["ndcg_cut_10"] for q, v in full.items()},
        "MRR@10": {q: v["recip_rank"] for q, v in rr.items()},
        "R@100": {q: v["recall_100"] for q, v in full.items()},
        "MAP": {q: v["map"] for q, v in full.items()},
    }


def bench_measures(num_queries: int = 10_000) -> dict[str, Any]:
    qrels, run = synthetic_qrels_and_run(num_queries)
    seconds, outputs = best_interleaved({"ours": lambda: evaluate_run(run, qrels, relevance_threshold=1),
                                         "pytrec_eval": lambda: pytrec_eval_scores(qrels, run, 1)})
    ours_seconds, theirs_seconds = seconds["ours"], seconds["pytrec_eval"]
    ours, theirs = outputs["ours"], outputs["pytrec_eval"]
    max_diff = max(abs(ours.per_query[m][q] - theirs[m][q]) for m in theirs for q in qrels)
    return {"queries": num_queries, "ours_s": ours_seconds, "pytrec_eval_s": theirs_seconds,
            "ratio": theirs_seconds / ours_seconds, "max_abs_diff": max_diff}


def markdown(encoding: dict[str, Any], search: dict[str, Any], measures: dict[str, Any], load: float) -> str:
    e, s, m = encoding, search, measures
    lines = [
        f"Machine: {describe_cpu()}, no GPU; torch {torch.__version__}, {THREADS} threads; "
        f"python {platform.python_version()}; {time.strftime('%Y-%m-%d')}; load average {load:.1f} at the "
        "start (other processes were sharing the cores). Run: `.venv/bin/python bench/eval.py --write`. "
        "Ratios > 1 mean bixse is faster.",
        "",
        f"**Encoding** the Cranfield corpus ({e['documents']:,} documents, packaged all-MiniLM-L6-v2, batch 32; "
        f"the three encoders take turns on {CHUNK}-document slices so that load from other processes hits all alike):",
        "",
        "| encoder | documents/s | vs sentence-transformers `encode` |",
        "|---|---:|---:|",
        f"| sentence-transformers `model.encode(texts)` (defaults, fp32) | {e['st_per_s']:.1f} | 1.00 |",
        f"| bixse `encode_texts`, fp32 (default on CPU) | {e['fp32_per_s']:.1f} | {e['fp32_vs_st']:.2f} |",
        f"| bixse `encode_texts`, bf16 autocast (`--precision bf16`) | {e['bf16_per_s']:.1f} | {e['bf16_vs_st']:.2f} |",
        "",
        f"bixse fp32 embeddings equal sentence-transformers' to {e['fp32_vs_st_max_abs']:.1e} (max abs). "
        f"bf16 vs fp32: {e['bf16_vs_fp32']:.2f}x faster; lowest document-embedding cosine to fp32 "
        f"{e['bf16_min_doc_cosine']:.5f}; max abs difference of a query-document cosine score "
        f"{e['bf16_max_score_diff']:.4f} ({e['queries']} test queries x {e['documents']:,} documents); "
        f"nDCG@10 on Cranfield test {e['ndcg_fp32']:.4f} (fp32) vs {e['ndcg_bf16']:.4f} (bf16).",
        "",
        f"**Exact top-{s['k']} search**, {s['documents']:,} x {s['dim']} random unit vectors, {s['queries']:,} queries "
        f"(best of 3, taking turns): bixse `exact_search` (chunked, 256 x 32,768 score blocks) {s['ours_s']:.3f} s vs numpy "
        f"(full score matrix + argpartition) {s['numpy_s']:.3f} s: **{s['speedup']:.2f}x**; "
        f"same ranking for {s['same_ranking']:.2%} of the positions, scores equal to {s['max_score_diff']:.1e}.",
        "",
        f"**Measures** (nDCG@10, MRR@10, R@100, MAP) on {m['queries']:,} synthetic graded queries (best of 3, taking turns): "
        f"bixse `evaluate_run` (its fast path for these measures, trec_eval's arithmetic) {m['ours_s']:.2f} s vs pytrec_eval directly {m['pytrec_eval_s']:.2f} s: "
        f"**{m['ratio']:.2f}x**; max abs per-query difference {m['max_abs_diff']:.1e} (<= 1e-6 required).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    parser.add_argument("--threads", type=int, default=2, help="torch/BLAS threads (default 2)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    measures = bench_measures()
    print("measures", measures, flush=True)
    search = bench_search()
    print("search", search, flush=True)
    encoding = bench_encoding()
    print("encoding", encoding, flush=True)
    block = markdown(encoding, search, measures, load)
    print(block)
    if measures["max_abs_diff"] > 1e-6:
        raise SystemExit(f"measures disagree with pytrec_eval by {measures['max_abs_diff']:.2e}")
    if args.write:
        write_readme_section("eval", block)


if __name__ == "__main__":
    main()
