"""End to end: models (or run files) + a collection split -> runs, scores, comparison, reports.

``evaluate_model`` is what a training loop calls for a dev-set score; ``evaluate_models`` and
``evaluate_run_files`` are what ``bixse eval`` calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bixse.collections import Collection, Qrels, Run, load, read_trec_qrels, read_trec_run, write_trec_run
from bixse.errors import InputError
from bixse.evaluation.comparison import Comparison, check_baseline, check_resampling, compare
from bixse.evaluation.measures import (
    DEFAULT_MEASURES,
    DEFAULT_RELEVANCE_THRESHOLD,
    EvaluationResult,
    NdcgGain,
    check_measures,
    evaluate_run,
    to_ir_measure,
)
from bixse.evaluation.report import write_report
from bixse.evaluation.significance import DEFAULT_RESAMPLES
from bixse.io import check_output_folder, open_text

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MIN_TOP_K = 100


def depth_needed(measures: Sequence[str]) -> int:
    """How many documents a run needs for ``measures``: the largest cutoff, at least 100."""
    cutoffs = [to_ir_measure(m).params.get("cutoff") for m in measures]
    return max([MIN_TOP_K, *(c for c in cutoffs if c)])


def as_collection(collection: Collection | str | Path) -> Collection:
    return collection if isinstance(collection, Collection) else load(collection)


def split_of(collection: Collection, split: str) -> Collection:
    """``collection.subset(split)``, with an unknown split reported as an input error."""
    try:
        return collection.subset(split)
    except KeyError:
        known = ", ".join(collection.split_names())
        raise InputError(f"collection '{collection.name}' has no split '{split}' (known: {known})",
                         field="split") from None


def retrieve(model: str | Path | SentenceTransformer, collection: Collection | str | Path, split: str = "test",
             top_k: int = MIN_TOP_K, **retriever_options: Any) -> Run:
    """The run of ``model`` (``"bm25"``, a name/folder, or a loaded model) on ``split``'s queries."""
    from bixse.retrieval import get_retriever

    loaded = as_collection(collection)
    queries = split_of(loaded, split).queries
    return get_retriever(model, loaded.corpus, **retriever_options).search(queries, top_k)


def evaluate_model(
    model: str | Path | SentenceTransformer,
    collection: Collection | str | Path = "cranfield",
    split: str = "dev",
    *,
    measures: Sequence[str] = DEFAULT_MEASURES,
    relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
    ndcg_gain: NdcgGain = "linear",
    top_k: int | None = None,
    name: str | None = None,
    **retriever_options: Any,
) -> EvaluationResult:
    """Score one model on a collection split.

    ``model`` may be an in-memory ``SentenceTransformer`` (e.g. mid-training): its corpus
    embeddings are then not cached unless ``cache=True`` is passed. ``retriever_options`` go to
    ``get_retriever`` (``search``, ``precision``, ``batch_size``, ``cache``, ``cache_dir``...).

    >>> result = evaluate_model("bm25", "cranfield", "dev")
    >>> round(result.aggregate["nDCG@10"], 3)  # doctest: +SKIP
    """
    from bixse.retrieval.dense import display_name

    loaded = as_collection(collection)
    subset = split_of(loaded, split)
    run = retrieve(model, loaded, split, top_k or depth_needed(measures), **retriever_options)
    return evaluate_run(run, subset.qrels, measures, relevance_threshold=relevance_threshold,
                        ndcg_gain=ndcg_gain, name=name or display_name(model))


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return unique


def _is_bm25(model: Any) -> bool:
    return isinstance(model, str) and model.lower() == "bm25"


def _check_models(models: Sequence[Any], retriever_options: dict[str, Any]) -> None:
    """Every model folder and dense option, so that a bad one fails before the first retrieval."""
    from bixse.models import check_model_name
    from bixse.retrieval.dense import check_dense_options

    dense = [model for model in models if not _is_bm25(model)]
    if dense:
        check_dense_options(retriever_options.get("search", "exact"), retriever_options.get("precision", "auto"))
    for model in dense:
        if isinstance(model, (str, Path)):
            check_model_name(model)


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def evaluate_models(
    models: Sequence[str | Path | SentenceTransformer],
    collection: Collection | str | Path = "cranfield",
    split: str = "test",
    *,
    baseline: str | None = None,
    output_dir: str | Path | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
    ndcg_gain: NdcgGain = "linear",
    top_k: int | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    **retriever_options: Any,
) -> Comparison:
    """Run, score and compare ``models`` on one split; with ``output_dir``, write
    ``runs/<model>.trec``, ``report.md``, ``results.json`` and ``chart.png`` there.

    ``baseline`` (a model's display name; default the first model) is what the paired tests
    compare against. ``retriever_options`` apply to the dense models (``search``,
    ``precision``, ``batch_size``, ``cache_dir``...); BM25 takes none of them. Every argument
    is checked before the first model retrieves, so a bad one costs no retrieval.

    >>> comparison = evaluate_models(["bm25", "all-MiniLM-L6-v2"], "cranfield", "test")  # doctest: +SKIP
    """
    from bixse.retrieval import DenseRetriever, get_retriever
    from bixse.retrieval.dense import display_name

    if not models:
        raise InputError("give at least one model", field="model")
    check_measures(measures, relevance_threshold, ndcg_gain)
    check_resampling(confidence, n_resamples)
    if top_k is not None and top_k <= 0:
        raise InputError(f"top_k must be positive, got {top_k}", field="top_k")
    if output_dir is not None:
        check_output_folder(output_dir)
    loaded = as_collection(collection)
    subset = split_of(loaded, split)
    depth = top_k or depth_needed(measures)
    names = _unique_names([display_name(m) for m in models])
    baseline = check_baseline(baseline, names)
    _check_models(models, retriever_options)
    results = []
    # What the dense models actually ran with ("auto" precision resolved), for the report.
    dense_settings: dict[str, set[str]] = {"search": set(), "precision": set(), "batch_size": set()}
    for model, name in zip(models, names, strict=True):
        options = {"show_progress": retriever_options.get("show_progress")} if _is_bm25(model) else {
            **retriever_options, "label": name}
        retriever = get_retriever(model, loaded.corpus, **options)
        if isinstance(retriever, DenseRetriever):
            for key, value in (("search", retriever.search_method), ("precision", retriever.precision),
                               ("batch_size", retriever.batch_size)):
                dense_settings[key].add(str(value))
        run = retriever.search(subset.queries, depth)
        if output_dir is not None:
            write_trec_run(Path(output_dir) / "runs" / f"{_file_stem(name)}.trec", run, tag=_file_stem(name))
        results.append(evaluate_run(run, subset.qrels, measures, relevance_threshold=relevance_threshold,
                                    ndcg_gain=ndcg_gain, name=name))
    comparison = compare(results, baseline, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if output_dir is not None:
        settings = {"collection": loaded.name, "split": split, "top_k": depth}
        settings.update({key: ", ".join(sorted(values)) for key, values in dense_settings.items() if values})
        write_report(comparison, output_dir, f"{loaded.name} / {split}", settings)
    return comparison


def read_qrels_file(path: str | Path) -> Qrels:
    """Read TREC qrels (``qid iter docid grade``) or a BEIR qrels TSV (``query-id corpus-id score``)."""
    from bixse.collections.beir import read_qrels_tsv

    path = Path(path)
    if not path.is_file():
        raise InputError("qrels file does not exist", path=path, field="qrels")
    with open_text(path) as handle:
        first = next((line for line in handle if line.strip()), "")
    fields = first.split()
    return read_qrels_tsv(path) if len(fields) == 3 or first.lower().startswith("query-id") else read_trec_qrels(path)


def evaluate_run_files(
    run_paths: Sequence[str | Path],
    qrels: Qrels | str | Path,
    *,
    baseline: str | None = None,
    output_dir: str | Path | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    relevance_threshold: int = DEFAULT_RELEVANCE_THRESHOLD,
    ndcg_gain: NdcgGain = "linear",
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Score existing TREC run files (named by file stem) on ``qrels`` (a dict or a qrels file)
    and compare them; with ``output_dir``, write the reports there."""
    if not run_paths:
        raise InputError("give at least one run file", field="run")
    check_measures(measures, relevance_threshold, ndcg_gain)
    check_resampling(confidence, n_resamples)
    if output_dir is not None:
        check_output_folder(output_dir)
    names = _unique_names([Path(p).stem for p in run_paths])
    baseline = check_baseline(baseline, names)
    for path in run_paths:
        if not Path(path).is_file():
            raise InputError("run file does not exist", path=path, field="run")
    judged = qrels if isinstance(qrels, dict) else read_qrels_file(qrels)
    results = []
    for path, name in zip(run_paths, names, strict=True):
        results.append(evaluate_run(read_trec_run(path), judged, measures, relevance_threshold=relevance_threshold,
                                    ndcg_gain=ndcg_gain, name=name, path=path))
    comparison = compare(results, baseline, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if output_dir is not None:
        write_report(comparison, output_dir, "Run files", {"runs": ", ".join(str(p) for p in run_paths)})
    return comparison
