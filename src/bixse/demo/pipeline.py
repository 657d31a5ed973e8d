"""``bixse demo``: the papers' comparison, replayed end to end on the embedded collection.

Stages, each timed and each reusing what an earlier run left in the output folder:
1. mine BM25 candidates for the training queries;
2. label them twice: human grades as probabilities, and the judge (through the label cache);
3. train every loss on every label set from the same base model, seed and step budget
   (a model whose folder holds a finished run with the same settings is reused);
4. evaluate BM25, the base model and every trained model on the test queries, with intervals
   and paired tests against InfoNCE trained on the same labels (corpus embeddings cached in
   ``embeddings/``);
5. write report.md (configuration, tables, verdicts, timings, environment) and chart.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bixse.collections import load
from bixse.collections.model import Collection
from bixse.demo.config import DemoConfig, resolve_eval_precision
from bixse.demo.labels import human_labels, judge_labels, mine_training_candidates, write_label_file
from bixse.demo.report import write_demo_report
from bixse.demo.training import train_or_reuse
from bixse.errors import InputError
from bixse.evaluation import Comparison, compare, evaluate_models

Log = Callable[[str], None]


@dataclass
class DemoResult:
    output_dir: Path
    comparison: Comparison
    comparisons_by_labels: dict[str, Comparison]
    timings_s: dict[str, float] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    judge_calls: int = 0
    reused_models: list[str] = field(default_factory=list)
    report: Path | None = None
    chart: Path | None = None


def model_name(loss: str, labels: str) -> str:
    return f"{loss}-{labels}"


@contextmanager
def _timed(timings: dict[str, float], stage: str, log: Log) -> Iterator[None]:
    log(f"{stage} ...")
    start = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - start
    log(f"  {stage}: {timings[stage]:.1f} s")


def check_config(config: DemoConfig) -> None:
    from bixse.losses import LOSSES

    unknown = [loss for loss in config.losses if loss not in LOSSES]
    if unknown:
        raise InputError(f"unknown loss {unknown[0]!r}; choose from {', '.join(sorted(LOSSES))}", field="losses")
    if config.baseline_loss not in config.losses:
        raise InputError(f"the baseline loss {config.baseline_loss!r} must be one of the trained losses "
                         f"{list(config.losses)}", field="baseline_loss")
    bad = [source for source in config.label_sources if source not in ("human", "judge")]
    if bad or not config.label_sources:
        raise InputError(f"label sources are 'human' and/or 'judge', got {list(config.label_sources)}",
                         field="label_sources")


def build_label_files(config: DemoConfig, collection: Collection, result: DemoResult, log: Log) -> dict[str, Path]:
    data_dir = config.output_dir / "data"
    with _timed(result.timings_s, "mine candidates", log):
        candidates = mine_training_candidates(collection, config.miner, config.candidates_per_query,
                                              config.max_train_queries)
    files: dict[str, Path] = {}
    if "human" in config.label_sources:
        pairs = human_labels(collection, candidates)
        files["human"] = write_label_file(data_dir / "human.jsonl", pairs)
        result.label_counts["human"] = len(pairs)
    if "judge" in config.label_sources:
        with _timed(result.timings_s, "judge candidates", log):
            pairs, result.judge_calls = judge_labels(candidates, config.judge, config.judge_options,
                                                     config.output_dir / "labels.sqlite")
        files["judge"] = write_label_file(data_dir / "judge.jsonl", pairs)
        result.label_counts["judge"] = len(pairs)
        log(f"  {len(pairs):,} judge labels, {result.judge_calls:,} new judge calls (the rest from the cache)")
    return files


def train_all(config: DemoConfig, label_files: dict[str, Path], result: DemoResult, log: Log) -> list[Path]:
    trained = []
    for labels, label_file in label_files.items():
        for loss in config.losses:
            name = model_name(loss, labels)
            with _timed(result.timings_s, f"train {name}", log):
                folder, reused = train_or_reuse(config, loss, label_file, config.output_dir / "models" / name)
            if reused:
                result.reused_models.append(name)
                log(f"  reused the finished model in {folder}")
            trained.append(folder)
    return trained


def evaluate_all(config: DemoConfig, collection: Collection, trained: list[Path], result: DemoResult,
                 log: Log) -> None:
    models = ["bm25", config.base_model, *trained]
    with _timed(result.timings_s, "evaluate", log):
        comparison = evaluate_models(
            models, collection, config.eval_split, baseline=model_name(config.baseline_loss, config.label_sources[0]),
            output_dir=config.output_dir / "evaluation", precision=resolve_eval_precision(config.eval_precision),
            cache_dir=config.output_dir,  # corpus embeddings in <output>/embeddings/: a rerun encodes nothing
            n_resamples=config.n_resamples, seed=config.seed, show_progress=None)
    result.comparison = comparison
    for labels in config.label_sources:
        # Each label set is judged against InfoNCE trained on the same labels.
        names = ["bm25", comparison.names[1], *[model_name(loss, labels) for loss in config.losses]]
        subset = [comparison.result(name) for name in names]
        result.comparisons_by_labels[labels] = compare(
            subset, model_name(config.baseline_loss, labels), confidence=comparison.confidence,
            n_resamples=config.n_resamples, seed=config.seed)


def run_demo(config: DemoConfig, log: Log = print) -> DemoResult:
    """Run the whole comparison; everything lands under ``config.output_dir``."""
    check_config(config)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(config.output_dir, comparison=None, comparisons_by_labels={})  # type: ignore[arg-type]
    start = time.perf_counter()
    collection = load(config.collection)
    label_files = build_label_files(config, collection, result, log)
    trained = train_all(config, label_files, result, log)
    evaluate_all(config, collection, trained, result, log)
    result.timings_s["total"] = time.perf_counter() - start
    result.report, result.chart = write_demo_report(config, collection, result)
    (config.output_dir / "demo-config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    return result
