"""Scale: every stage of bixse at 10k, 100k and 1M documents (and MS MARCO's shape where it
fits), wall time and peak memory of each, beside each stage's peer, and how each grows.

Data are generated on the fly (nothing is committed): a synthetic collection of MS MARCO
passage's shape (Zipf-distributed words of a 200k-word vocabulary: MiniLM's English words,
then compounds of two; 56 words a passage, 6 a query drawn from a passage, which is graded 2, plus two grade-1 documents), written as a BEIR
folder. Each stage runs in a child process of its own, so its peak RSS (``ru_maxrss``) is its
own; the parent only generates data and collects. Stages and their peers:

- ``load``: ``bixse.collections.load`` of the BEIR folder; peer: ``json.loads`` line by line.
- ``bm25``: BM25 mining of the queries, top 100 (index + search); peer: bm25s used directly
  (``bm25s.BM25(backend=...)``, same tokenizer settings, ``retrieve(n_threads=2)``).
- ``encode``: corpus embeddings with a tiny model (2-layer BERT, 32 dims, MiniLM's tokenizer,
  random weights) into the shard cache; peer: ``SentenceTransformer.encode_document``.
- ``exact`` / ``faiss``: top-100 over the cached shards of random unit vectors (384 dims) for
  10k queries, bixse's exact search and bixse's FAISS flat path; peer: FAISS ``IndexFlatIP``
  on the same arrays in memory.
- ``cache``: the label cache (LLM-judge-shaped labels, batches of 10k; 5 a document up to 1M,
  MS MARCO's 5M): inserts then lookups; peer: raw sqlite3 on the same rows (bench/scale_cache.py).
- ``rows``: training rows, Arrow dataset, sampler and first batch from one graded pair a
  document (bench/scale_rows.py).
- ``score``: evaluate_run, 100 documents a query; peer: pytrec_eval directly (bench/scale_scoring.py).

Run: ``.venv/bin/python bench/scale.py [--sizes 10000 100000 1000000] [--stages ...] [--write]``;
``--msmarco`` adds the MS MARCO shape (8.8M documents, 500k queries, 5M labels) for the stages
that take it. Results accumulate in ``bench/scale-results.json`` (one entry per size, stage and
side, newest kept), so sizes can be run separately; ``--write`` puts the table in bench/README.md.
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import itertools
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "scale-results.json"
MSMARCO = {"documents": 8_841_823, "queries": 502_939, "labels": 5_000_000}
WORDS, DOC_WORDS, QUERY_WORDS = 200_000, 56, 6
STAGES = ("load", "bm25", "encode", "exact", "faiss", "cache", "rows", "score")


def shape_of(documents: int) -> dict[str, int]:
    """Queries and labels that go with a corpus size (MS MARCO's ratios, capped for search)."""
    if documents >= MSMARCO["documents"]:
        return dict(MSMARCO)
    return {"documents": documents, "queries": max(1000, documents // 100), "labels": min(5 * documents, 1_000_000)}


# --- data --------------------------------------------------------------------------------

def word_list(seed: int = 0) -> list[str]:
    """WORDS distinct words: the whole English words of MiniLM's WordPiece vocabulary (so a
    passage tokenizes like text, not like noise), then two-word compounds of them (the long tail
    of a large collection's vocabulary), most frequent first."""
    from bixse.models import packaged_minilm_path

    vocabulary = (Path(packaged_minilm_path()) / "vocab.txt").read_text().split()
    words = [w for w in vocabulary if w.isalpha() and w.isascii() and len(w) >= 3]
    rng = np.random.default_rng(seed)
    words = [str(word) for word in rng.permutation(words)]
    compounds: set[str] = set()
    while len(words) + len(compounds) < WORDS:
        first, second = rng.integers(0, len(words), size=(2, WORDS))
        compounds.update(words[a] + words[b] for a, b in zip(first.tolist(), second.tolist()))
    return words + sorted(compounds)[:WORDS - len(words)]


def generate(folder: Path, documents: int, queries: int, seed: int = 0) -> None:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    words = np.array(word_list(seed), dtype=object)
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, WORDS + 1) ** 1.07
    cumulative = np.cumsum(zipf / zipf.sum())
    source_docs = rng.choice(documents, size=queries, replace=False)
    source_of = dict(zip(source_docs.tolist(), range(queries)))
    query_texts: list[str] = [""] * queries
    with (folder / "corpus.jsonl").open("w") as corpus:
        for start in range(0, documents, 100_000):
            count = min(100_000, documents - start)
            lengths = rng.poisson(DOC_WORDS, size=count).clip(5, 200)
            ids = np.searchsorted(cumulative, rng.random(int(lengths.sum())))
            cuts = np.cumsum(lengths)[:-1]
            for offset, doc_words in enumerate(np.split(words[ids], cuts)):
                number = start + offset
                text = " ".join(doc_words)
                corpus.write(json.dumps({"_id": f"d{number}", "title": "", "text": text}) + "\n")
                if number in source_of:
                    picked = rng.choice(len(doc_words), size=min(QUERY_WORDS, len(doc_words)), replace=False)
                    query_texts[source_of[number]] = " ".join(doc_words[np.sort(picked)])
    with (folder / "queries.jsonl").open("w") as handle:
        for number, text in enumerate(query_texts):
            handle.write(json.dumps({"_id": f"q{number}", "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    others = rng.integers(0, documents, size=(queries, 2))
    with (folder / "qrels" / "test.tsv").open("w") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for number, doc in enumerate(source_docs.tolist()):
            handle.write(f"q{number}\td{doc}\t2\n")
            for other in others[number].tolist():
                if other != doc:
                    handle.write(f"q{number}\td{other}\t1\n")


def unit_vectors(rows: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = np.empty((rows, dim), dtype=np.float32)
    for start in range(0, rows, 262_144):
        block = rng.standard_normal((min(262_144, rows - start), dim), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


# --- stages (each runs in a child: ``--child STAGE SIDE``) --------------------------------

def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_collection(folder: Path):
    from bixse.collections import load

    return load(str(folder))


def stage_load(folder: Path, side: str, shape: dict) -> dict:
    start = time.perf_counter()
    if side == "bixse":
        collection = load_collection(folder)
        count = len(collection.corpus)
    else:
        corpus = {}
        with (folder / "corpus.jsonl").open() as handle:
            for line in handle:
                record = json.loads(line)
                corpus[record["_id"]] = (record.get("title", ""), record["text"])
        count = len(corpus)
    return {"seconds": time.perf_counter() - start, "items": count}


def _queries_and_texts(folder: Path, shape: dict):
    collection = load_collection(folder)
    queries = dict(list(collection.queries.items())[:shape["search_queries"]])
    return collection, queries


def stage_bm25(folder: Path, side: str, shape: dict) -> dict:
    collection, queries = _queries_and_texts(folder, shape)
    baseline = peak_mib()
    start = time.perf_counter()
    if side == "bixse":
        from bixse.retrieval import BM25Retriever

        retriever = BM25Retriever(collection.corpus, cache=False, show_progress=False)
        indexed = time.perf_counter()
        run = retriever.search(queries, top_k=100)
        backend = retriever.index.backend
        hits = sum(len(docs) for docs in run.values())
    else:
        import bm25s

        from bixse.retrieval.bm25 import BM25Retriever, _stemmer

        backend = BM25Retriever.search_backend(type("Sized", (), {"doc_ids": collection.corpus})(),
                                               len(queries))
        texts = [document.full_text for document in collection.corpus.values()]
        stemmer = _stemmer("english")
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        del texts
        retriever = bm25s.BM25(backend=backend)
        retriever.index(tokens, show_progress=False)
        del tokens
        indexed = time.perf_counter()
        query_tokens = bm25s.tokenize(list(queries.values()), stopwords="en", stemmer=stemmer, show_progress=False)
        documents, scores = retriever.retrieve(query_tokens, k=100, n_threads=THREADS, show_progress=False)
        hits = int((scores > 0).sum())
    end = time.perf_counter()
    return {"seconds": end - start, "index_seconds": indexed - start, "search_seconds": end - indexed,
            "queries": len(queries), "hits": hits, "backend": backend, "baseline_mib": baseline}


def tiny_model(folder: Path):
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import build_tiny_model
    from sentence_transformers import SentenceTransformer

    path = folder / "tiny-bert"
    if not path.exists():
        build_tiny_model(folder)
    return SentenceTransformer(str(path), device="cpu")


def stage_encode(folder: Path, side: str, shape: dict) -> dict:
    collection = load_collection(folder)
    if shape.get("encode_documents", shape["documents"]) < shape["documents"]:
        # MS MARCO's shape: the whole collection loaded, the first shards encoded (what one
        # encoding step holds does not depend on how many shards follow; the time is linear).
        kept = dict(itertools.islice(collection.corpus.items(), shape["encode_documents"]))
        collection = type("Prefix", (), {"corpus": kept, "whole": collection})()
    model = tiny_model(folder.parent)
    baseline = peak_mib()
    start = time.perf_counter()
    if side == "bixse":
        from bixse.retrieval import DenseRetriever

        cache_dir = folder / "cache-encode"
        shutil.rmtree(cache_dir, ignore_errors=True)  # encode, do not read an earlier run's shards
        retriever = DenseRetriever(model, collection.corpus, cache=True, cache_dir=cache_dir,
                                   precision="fp32", batch_size=128, show_progress=False)
        rows = retriever.document_embeddings.rows
    else:
        texts = [document.full_text for document in collection.corpus.values()]
        rows = len(model.encode_document(texts, batch_size=128, show_progress_bar=False))
    return {"seconds": time.perf_counter() - start, "items": rows, "baseline_mib": baseline}


def vector_cache(folder: Path, documents: int):
    """Random unit vectors stored once per size as bixse's shard cache entry; their shards."""
    from bixse.retrieval import EmbeddingCache

    cache = EmbeddingCache(folder / "cache-vectors")
    shards = cache.load("vectors", documents)
    if shards is None:
        vectors = unit_vectors(documents)
        shards = cache.store("vectors", vectors, {"model": "random unit vectors"})
    return shards


def stage_vectors(folder: Path, side: str, shape: dict) -> dict:
    """Not a stage: writes the shards the search stages read, so they do not pay for it."""
    start = time.perf_counter()
    return {"seconds": time.perf_counter() - start, "rows": vector_cache(folder, shape["documents"]).rows}


def stage_exact(folder: Path, side: str, shape: dict, kind: str = "exact") -> dict:
    from bixse.retrieval import build_faiss_index, exact_search, faiss_search

    shards = vector_cache(folder, shape["documents"])
    queries = unit_vectors(shape.get("dense_queries", shape["search_queries"]), seed=1)
    baseline = peak_mib()
    start = time.perf_counter()
    if side == "bixse" and kind == "exact":
        scores, indices = exact_search(queries, shards, 100, "cosine")
    elif side == "bixse":
        scores, indices = faiss_search(build_faiss_index(shards, "flat", "cosine"), queries, 100, "cosine")
    else:
        import faiss

        vectors = np.asarray(shards)  # in memory before the clock in a real use: not timed below
        start = time.perf_counter()
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        scores, indices = index.search(queries, 100)
    seconds = time.perf_counter() - start
    np.save(folder / f"topk-{kind}-{side}.npy", indices)
    return {"seconds": seconds, "queries": len(queries), "baseline_mib": baseline}


def stage_faiss(folder: Path, side: str, shape: dict) -> dict:
    return stage_exact(folder, side, shape, kind="faiss")


# The next three measure bixse and its peer in one process (their own modules, each runnable
# alone) and return {"bixse": {...}, "peer": {...}, ...}.

def stage_cache(folder: Path, side: str, shape: dict) -> dict:
    from scale_cache import measure_label_cache

    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        measured = measure_label_cache(shape["labels"], 10_000, scratch)
    return {"bixse": measured["bixse"], "peer": measured["peer"], "detail": {
        key: measured[key] for key in ("labels", "batch_size", "insert_slowdown", "lookup_slowdown", "sqlite")}}


def stage_rows(folder: Path, side: str, shape: dict) -> dict:
    from scale_rows import measure_training_rows

    measured = measure_training_rows(shape["documents"])  # in a grandchild: its own high-water mark
    return {"bixse": {"seconds": measured["total_seconds"], "own_peak_mib": measured["maxrss_mib"]},
            "detail": measured}


def stage_score(folder: Path, side: str, shape: dict) -> dict:
    from scale_scoring import measure_scoring

    measured = measure_scoring(shape["score_queries"], 100)
    return {"bixse": {"seconds": measured["bixse_s"]}, "peer": {"seconds": measured["pytrec_eval_s"]},
            "detail": measured}


def run_child(stage: str, side: str, folder: Path, shape: dict) -> dict:
    result = globals()[f"stage_{stage}"](folder, side, shape)
    return {**result, "peak_mib": peak_mib()}


# --- the parent ---------------------------------------------------------------------------

def spawn(stage: str, side: str, folder: Path, shape: dict, timeout: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", stage, side, str(folder),
               json.dumps(shape), "--threads", str(THREADS)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"error": f"over the {timeout:.0f} s limit", "seconds": time.perf_counter() - started}
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        reason = "killed (out of memory?)" if done.returncode < 0 else " / ".join(tail)
        return {"error": f"exit {done.returncode}: {reason}", "seconds": time.perf_counter() - started}
    return json.loads(done.stdout.strip().splitlines()[-1])


def record(results: dict, documents: int, stage: str, side: str, value: dict) -> None:
    """Add one result to the file, re-read first: two runs of this script may share it."""
    import fcntl

    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results.clear()
        results.update(json.loads(RESULTS.read_text()) if RESULTS.exists() else {})
        results.setdefault(str(documents), {}).setdefault(stage, {})[side] = value
        temporary = RESULTS.with_suffix(".tmp")
        temporary.write_text(json.dumps(results, indent=1, sort_keys=True))
        temporary.replace(RESULTS)


SIDES = {"load": ("bixse", "peer"), "bm25": ("bixse", "peer"), "encode": ("bixse", "peer"),
         "exact": ("bixse", "peer"), "faiss": ("bixse",), "cache": ("both",), "rows": ("both",),
         "score": ("both",)}
# The stages MS MARCO's shape goes through (the list); the others stop at 1M.
MSMARCO_STAGES = ("load", "bm25", "encode", "exact", "cache")
# Peers that cannot run at MS MARCO's shape here: bm25s's index needs about 20 GiB (the issue's
# measurement), FAISS IndexFlatIP a second 13.5 GB copy, the plain encode is the same loop as at 1M.
PEERLESS_AT_MSMARCO = ("bm25", "exact", "encode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--msmarco", action="store_true")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bixse-scale")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--sides", nargs="+", default=["bixse", "peer", "both"],
                        help="which sides to run (e.g. --sides bixse: skip the peers)")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    sizes = list(args.sizes) + ([MSMARCO["documents"]] if args.msmarco else [])
    for documents in [] if args.report_only else sizes:
        shape = {**shape_of(documents), "search_queries": min(10_000, shape_of(documents)["queries"])}
        if documents >= MSMARCO["documents"]:
            # Searches and encoding on a sample at this size (times extrapolate linearly):
            # 2,000 BM25 / 1,000 dense queries, the first two embedding shards.
            shape.update(search_queries=2_000, dense_queries=1_000, encode_documents=2 * 262_144)
        folder = args.work / f"docs-{documents}"
        if not (folder / "qrels" / "test.tsv").exists():
            print(f"generating {documents:,} documents ...", flush=True)
            generate(folder, documents, shape["queries"])
        shape["score_queries"] = max(1_000, documents // 10)  # 100k queries x 100 at 1M documents
        stages = [s for s in args.stages if documents < MSMARCO["documents"] or s in MSMARCO_STAGES]
        if {"exact", "faiss"} & set(stages):
            spawn("vectors", "bixse", folder, shape, args.timeout)
        for stage in stages:
            sides = [side for side in SIDES[stage] if side in args.sides]
            if documents >= MSMARCO["documents"] and stage in PEERLESS_AT_MSMARCO:
                sides = [side for side in sides if side != "peer"]
            for side in sides:
                value = spawn(stage, side, folder, shape, args.timeout)
                stamp = {"shape": shape, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
                if side == "both" and "error" not in value:  # one process measured both sides
                    for name in ("bixse", "peer"):
                        if name in value:
                            record(results, documents, stage, name, {**value[name], "peak_mib": value["peak_mib"],
                                                                     "detail": value["detail"], **stamp})
                else:
                    record(results, documents, stage, "bixse" if side == "both" else side, {**value, **stamp})
                print(documents, stage, side, {k: v for k, v in value.items() if k != "shape"}, flush=True)
    publish_table(results, args.write)


def slope(points: list[tuple[float, float]]) -> float | None:
    """Growth exponent: least-squares slope of log(value) on log(size)."""
    points = [(x, y) for x, y in points if y and y > 0]
    if len(points) < 2:
        return None
    xs, ys = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(xs, ys, 1)[0])


def publish_table(results: dict, write: bool) -> None:
    from readme_section import publish

    from bixse.environment import describe_cpu

    sizes = sorted(int(size) for size in results)
    lines = [f"Machine: {describe_cpu()}; {THREADS} threads; python {sys.version.split()[0]}; "
             f"{datetime.now(timezone.utc):%Y-%m-%d}. Each cell: wall seconds / peak RSS GiB of the "
             "stage's own process (its data loaded); peer in brackets; `x` = peer time / bixse time "
             "(above 1: bixse faster). Exponent: slope of log time on log size from 10k to 1M documents, "
             "of BM25's indexing and of the dense searches' time per query (query counts grow with the "
             "corpus); cache, rows and score grow with labels, pairs and queries, which grow with it.", "",
             "| stage | " + " | ".join(f"{size:,} docs" for size in sizes) + " | time exponent |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for stage in STAGES:
        cells, points = [], []
        for size in sizes:
            entry = results.get(str(size), {}).get(stage)
            cells.append(format_cell(entry))
            ours = (entry or {}).get("bixse", {})
            if "seconds" in ours and size <= 1_000_000 and "error" not in ours:
                points.append((size, work_seconds(stage, ours)))
        exponent = slope(points)
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {'' if exponent is None else f'{exponent:.2f}'} |")
    lines += ["", *peer_targets(results)]
    publish("scale", lines, write)


# The peer targets at 1M documents: (stage, what, the least peer/bixse time ratio).
TARGETS = (("exact", "exact search vs FAISS IndexFlatIP (1M x 384, 10k queries, top-100)", 1.0),
           ("score", "scoring vs pytrec_eval (100k queries x 100)", 1.0),
           ("bm25", "BM25 mining (index + 10k queries, top-100) vs bm25s used directly", 1.0))


def peer_targets(results: dict) -> list[str]:
    """One line per target of the issue, from the 1M results: the ratio and whether it is met."""
    entries = results.get("1000000", {})
    lines = []
    for stage, what, least in TARGETS:
        entry = entries.get(stage, {})
        if "seconds" in entry.get("bixse", {}) and "seconds" in entry.get("peer", {}):
            ratio = entry["peer"]["seconds"] / entry["bixse"]["seconds"]
            lines.append(f"- {what}: x{ratio:.2f} ({'met' if ratio >= least else 'NOT met'}: at least x{least:.1f})")
    cache = entries.get("cache", {})
    ours, raw = cache.get("bixse", {}), cache.get("peer", {})
    if "insert_s" in ours and "insert_s" in raw:
        slowdown = ours["insert_s"] / raw["insert_s"]
        lines.append(f"- label-cache inserts vs raw sqlite3 (1M labels, batches of 10k, each one durable "
                     f"transaction): {slowdown:.2f}x the time ({'met' if slowdown <= 3 else 'NOT met'}: within 3x); "
                     f"lookups {ours['lookup_s'] / raw['lookup_s']:.2f}x")
    return lines


def work_seconds(stage: str, ours: dict) -> float:
    """The time whose growth with the corpus is the stage's exponent: per query for searches
    (their query counts grow with the corpus too), the whole stage otherwise."""
    if stage == "bm25":
        return ours["index_seconds"]
    if stage in ("exact", "faiss"):
        return ours["seconds"] / ours["queries"]
    return ours["seconds"]


def format_cell(entry: dict | None) -> str:
    if not entry:
        return ""
    ours, peer = entry.get("bixse", {}), entry.get("peer")
    if "error" in ours:
        return f"failed: {ours['error']}"
    peak = ours.get("own_peak_mib") or ours.get("detail", {}).get("maxrss_mib") or ours["peak_mib"]
    text = f"{ours['seconds']:.1f} s / {peak / 1024:.2f} GiB"
    if peer and "error" not in peer:
        text += f" ({peer['seconds']:.1f} s / {peer['peak_mib'] / 1024:.2f} GiB, x{peer['seconds'] / ours['seconds']:.2f})"
    elif peer:
        text += f" (peer failed: {peer['error']})"
    return text


if __name__ == "__main__":
    if "--child" in sys.argv:
        position = sys.argv.index("--child")
        stage, side, folder, shape = sys.argv[position + 1:position + 5]
        print(json.dumps(run_child(stage, side, Path(folder), json.loads(shape))))
    else:
        main()
