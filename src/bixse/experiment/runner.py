"""Running an experiment's cells: check everything, then train and evaluate each cell, resumably.

Output folder::

    <output>/experiment.yaml           the experiment file as run (for the report and reruns)
    <output>/labels/<source>.jsonl     each label source's pairs, read, mined or judged once
    <output>/labels.sqlite             the judges' label cache (judge sources only)
    <output>/embeddings/               corpus embeddings of the base model (reused by reruns)
    <output>/references/<name>/        base model (and BM25) results on every evaluation split
    <output>/cells/<key>/
        cell.json                      the cell's spec (its identity)
        train-config.yaml              the resolved `bixse train` config of its run
        eval/<collection:split>.json   per-query scores, written as each split finishes
        result.json                    every split's scores and timings; written last: the cell is done
        model/, embeddings/, labels.jsonl   while the cell runs (kept with keep_models)

A rerun skips cells with a ``result.json``, continues a killed cell's training from its last
checkpoint (``bixse train --resume``) and its evaluation from the last finished split.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bixse.collections import Collection, load
from bixse.collections.training_data import GradedPair
from bixse.environment import describe_machine
from bixse.errors import InputError
from bixse.experiment.config import (
    Cell,
    EvalTarget,
    ExperimentConfig,
    LabelSource,
    _digest,
    evaluation_settings,
    shard_of,
)
from bixse.experiment.labels import check_split, positive_threshold, source_pairs, transformed
from bixse.io import atomic_write, write_jsonl

logger = logging.getLogger(__name__)
Log = Callable[[str], None]

RESULT_FILE = "result.json"


@dataclass
class ExperimentRun:
    """What one ``run_experiment`` call did."""

    output_dir: Path
    cells: list[Cell]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: Path | None = None


class Collections:
    """Each collection loaded once per process, by the name or path the experiment gives."""

    def __init__(self) -> None:
        self._loaded: dict[str, Collection] = {}

    def get(self, name: str, key: str) -> Collection:
        identity = str(Path(name).expanduser().resolve()) if Path(name).expanduser().exists() else name
        if identity not in self._loaded:
            try:
                self._loaded[identity] = load(name)
            except InputError as error:
                raise InputError(error.message, path=error.path, field=key) from None
        return self._loaded[identity]


# --- checks before any work --------------------------------------------------------------------

def _check_losses(config: ExperimentConfig) -> None:
    from bixse.training import TrainConfig
    from bixse.training.pipeline import check_loss
    from bixse.training.trainer import loss_own_parameters

    for name, entry in config.losses.items():
        try:
            loss_class, params = check_loss(TrainConfig(loss=entry.loss, loss_params=entry.params_dict))
        except InputError as error:
            raise InputError(f"loss '{name}': {error.message}", path=config.path, field=f"losses.{name}") from None
        if entry.loss_learning_rate is not None and not loss_own_parameters(loss_class(None, **params)):
            raise InputError(f"loss '{name}' has no trainable parameters of its own for loss_learning_rate to train",
                             path=config.path, field=f"losses.{name}.loss_learning_rate")


def _check_training(config: ExperimentConfig) -> None:
    from bixse.training import TrainConfig
    from bixse.training.pipeline import check_model

    try:
        settings = TrainConfig(model=config.model, **config.training)
    except (InputError, TypeError) as error:
        message = error.message if isinstance(error, InputError) else str(error)
        raise InputError(message, path=config.path, field=f"training.{getattr(error, 'field', '')}") from None
    try:
        check_model(settings)
    except InputError as error:
        raise InputError(error.message, path=error.path or config.path, field="model") from None


def _check_no_leak(cell: Cell, source_collection: Collection, trained_queries: dict[str | None, None],
                   collections: Collections, config: ExperimentConfig) -> None:
    """A cell must never be evaluated on queries it trained on."""
    trained = set(trained_queries) - {None}
    for target in cell.evaluation:
        evaluated = collections.get(target.collection, "evaluation.collections")
        if evaluated is source_collection and trained & set(evaluated.query_ids(target.split)):
            raise InputError(f"grid '{cell.grid}' trains on label source '{cell.labels.name}', whose queries "
                             f"include queries of {target.name}, and evaluates there: take {target.name} out of "
                             "that grid's evaluation", path=config.path, field=f"grids.{cell.grid}.evaluation")


def prepare(config: ExperimentConfig, cells: Sequence[Cell], output_dir: Path,
            collections: Collections) -> dict[str, Path]:
    """Every check, and each label source's pairs written to ``labels/``; nothing trained yet.

    Returns label source name -> its pairs file. A judge source is only checked here; it is
    judged (through the cache) when ``materialise_judged`` runs.
    """
    _check_training(config)
    _check_losses(config)
    for cell in cells:  # each cell's own batch and budget against the shared settings (e.g. mini_batch_size)
        try:
            train_settings(config, cell, output_dir / "labels.jsonl", output_dir / "model")
        except InputError as error:
            raise InputError(f"cell {cell.key}: {error.message}", path=config.path,
                             field=f"training.{error.field}" if error.field else "training") from None
    for cell in cells:
        for target in cell.evaluation:
            check_split(collections.get(target.collection, "evaluation.collections"), target.split,
                        f"evaluation.collections ({target.name})")
    files: dict[str, Path] = {}
    for source in {cell.labels.name: cell.labels for cell in cells}.values():
        collection = collections.get(source.collection, f"labels.{source.name}.collection")
        path = label_file(output_dir, source)
        if source.kind == "judge":
            source_pairs(source, collection, judge_now=False)
        elif not path.is_file():
            pairs = source_pairs(source, collection)
            write_jsonl(path, (_compact(pair) for pair in pairs))
        files[source.name] = path
    for cell in cells:
        source_collection = collections.get(cell.labels.collection, "labels")
        trained = ({query_id: None for query_id in source_collection.query_ids(cell.labels.split)}
                   if cell.labels.kind == "judge" else
                   {pair.query_id: None for pair in read_pairs(files[cell.labels.name], source_collection)})
        _check_no_leak(cell, source_collection, trained, collections, config)
    return files


def label_file(output_dir: Path, source: LabelSource) -> Path:
    return output_dir / "labels" / f"{source.name}-{_digest(source.spec())}.jsonl"


def _compact(pair: GradedPair) -> dict[str, Any]:
    """A pair with ids keeps only its ids (texts resolve against the collection): 20x smaller files."""
    record = pair.to_record()
    if pair.query_id is not None and pair.doc_id is not None:
        record.pop("query", None)
        record.pop("document", None)
    return record


_PAIRS_CACHE: dict[Path, list[GradedPair]] = {}


def read_pairs(path: Path, collection: Collection) -> list[GradedPair]:
    from bixse.collections.training_data import read_graded_pairs

    if path not in _PAIRS_CACHE:
        _PAIRS_CACHE[path] = read_graded_pairs(path, collection)
    return _PAIRS_CACHE[path]


def materialise_judged(source: LabelSource, output_dir: Path, collections: Collections) -> Path:
    path = label_file(output_dir, source)
    if not path.is_file():
        collection = collections.get(source.collection, f"labels.{source.name}.collection")
        pairs = source_pairs(source, collection, cache_path=output_dir / "labels.sqlite")
        write_jsonl(path, (_compact(pair) for pair in pairs))
    return path


# --- one cell ----------------------------------------------------------------------------------

def train_settings(config: ExperimentConfig, cell: Cell, labels_path: Path, model_dir: Path) -> Any:
    """The ``bixse train`` config of a cell: the experiment's shared settings plus the cell's axes."""
    from bixse.training import TrainConfig

    shared = dict(config.training)
    threshold = positive_threshold(cell.transform, shared.pop("positive_threshold", 0.5))
    shared.setdefault("checkpoint_steps", max(cell.max_steps // 4, 1))
    if cell.loss.loss_learning_rate is not None:
        shared["loss_learning_rate"] = cell.loss.loss_learning_rate
    return TrainConfig(model=config.model, data=str(labels_path), collection=cell.labels.collection,
                       loss=cell.loss.loss, loss_params=cell.loss.params_dict, seed=cell.seed,
                       batch_size=cell.batch_size, max_steps=cell.max_steps, positive_threshold=threshold,
                       output_dir=str(model_dir), resume=True, eval_steps=0, dev_split=None, **shared)


def _train_cell(config: ExperimentConfig, cell: Cell, cell_dir: Path, source_file: Path,
                collections: Collections) -> Path:
    from bixse.training import train
    from bixse.training.pipeline import CONFIG_FILE, check_output

    labels_path = cell_dir / "labels.jsonl"
    if not labels_path.is_file():
        source_collection = collections.get(cell.labels.collection, "labels")
        pairs = transformed(read_pairs(source_file, source_collection), cell.transform, cell.seed)
        if not pairs:
            raise InputError(f"transform {cell.transform.name} leaves no labels of '{cell.labels.name}'",
                             path=config.path, field=f"grids.{cell.grid}.transform")
        write_jsonl(labels_path, (_compact(pair) for pair in pairs))
    model_dir = cell_dir / "model"
    settings = train_settings(config, cell, labels_path, model_dir)
    _, finished = check_output(settings)
    if not finished:
        train(settings)
    shutil.copyfile(model_dir / CONFIG_FILE, cell_dir / "train-config.yaml")
    return model_dir


def _load_for_evaluation(model: str | Path, config: ExperimentConfig) -> Any:
    from bixse.models import load_sentence_transformer

    loaded = load_sentence_transformer(model, device="cpu" if not _cuda() else None)
    if config.evaluation.max_seq_length is not None:
        loaded.max_seq_length = config.evaluation.max_seq_length
    return loaded


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def evaluate_targets(model: Any, name: str, targets: Sequence[EvalTarget], folder: Path, cache_dir: Path,
                     config: ExperimentConfig, collections: Collections, log: Log) -> dict[str, Any]:
    """Score ``model`` on each target; each target's scores are written as it finishes (resumable)."""
    from bixse.evaluation import evaluate_model
    from bixse.retrieval import resolve_precision

    evaluation = config.evaluation
    settings = evaluation_settings(evaluation)
    scores: dict[str, Any] = {}
    for target in targets:
        path = eval_file(folder, target)
        if path.is_file():
            recorded = json.loads(path.read_text(encoding="utf-8"))
            if recorded.get("settings") == settings:
                scores[target.name] = recorded
                continue
        collection = collections.get(target.collection, "evaluation.collections")
        started = time.perf_counter()
        dense = {} if model == "bm25" else {"precision": resolve_precision(evaluation.precision), "batch_size": evaluation.batch_size,
                                            "cache": True, "cache_dir": cache_dir}
        result = evaluate_model(model, collection, target.split, measures=evaluation.measures,
                                relevance_threshold=evaluation.relevance_threshold, name=name,
                                show_progress=None, **dense)
        record = {"collection": target.collection, "split": target.split, "settings": settings,
                  "aggregate": result.aggregate,
                  "per_query": result.per_query, "num_queries": result.num_queries,
                  "conventions": result.conventions(), "seconds": round(time.perf_counter() - started, 2)}
        _write_json(path, record)
        scores[target.name] = record
        log(f"    {target.name}: " + ", ".join(f"{m} {v:.4f}" for m, v in result.aggregate.items()))
    return scores


def eval_file(folder: Path, target: EvalTarget) -> Path:
    return folder / "eval" / f"{target.name.replace('/', '_')}.json"


def run_cell(config: ExperimentConfig, cell: Cell, output_dir: Path, source_file: Path,
             collections: Collections, keep_models: bool, log: Log) -> Path:
    """Train and evaluate one cell; return its ``result.json``."""
    cell_dir = output_dir / "cells" / cell.key
    cell_dir.mkdir(parents=True, exist_ok=True)
    _write_json(cell_dir / "cell.json", {"key": cell.key, "grid": cell.grid, "spec": cell.spec()})
    started = time.perf_counter()
    model_dir = _train_cell(config, cell, cell_dir, source_file, collections)
    trained = time.perf_counter()
    model = _load_for_evaluation(model_dir, config)
    scores = evaluate_targets(model, cell.key, cell.evaluation, cell_dir, cell_dir, config, collections, log)
    record = {"key": cell.key, "grid": cell.grid, "spec": cell.spec(),
              "evaluation_settings": evaluation_settings(config.evaluation),
              "arm": dict(zip(("loss", "labels", "transform", "batch_size", "max_steps"), cell.arm)),
              "seed": cell.seed, "evaluation": scores, "training": _training_facts(model_dir),
              "machine": describe_machine(),
              "timings_s": {"train": round(trained - started, 2),
                            "evaluate": round(time.perf_counter() - trained, 2)}}
    result_path = cell_dir / RESULT_FILE
    _write_json(result_path, record)
    if not keep_models:
        for leftover in ("model", "embeddings"):
            shutil.rmtree(cell_dir / leftover, ignore_errors=True)
        (cell_dir / "labels.jsonl").unlink(missing_ok=True)
    return result_path


def _training_facts(model_dir: Path) -> dict[str, Any]:
    """Steps, loss, runtime and the loss's learned scalars (BiXSE's bias) of the cell's training, from its log."""
    log_path = model_dir / "training_log.jsonl"
    records = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if log_path.is_file() else []
    losses = [r for r in records if "loss" in r]
    summary = next((r for r in reversed(records) if "train_runtime" in r), {})
    learned = next((r["learned_loss_parameters"] for r in reversed(records) if "learned_loss_parameters" in r), None)
    return {"steps": max((r.get("step", 0) for r in records), default=0),
            "first_loss": losses[0]["loss"] if losses else None, "last_loss": losses[-1]["loss"] if losses else None,
            "runtime_s": summary.get("train_runtime"),
            **({"learned_loss_parameters": learned} if learned else {})}


def run_references(config: ExperimentConfig, cells: Sequence[Cell], output_dir: Path,
                   collections: Collections, log: Log) -> None:
    """The base model (and BM25) on every evaluation split the cells use."""
    targets = list({target: None for cell in cells for target in cell.evaluation})
    for reference in config.evaluation.references:
        folder = output_dir / "references" / reference
        settings = evaluation_settings(config.evaluation)
        missing = [t for t in targets if not eval_file(folder, t).is_file()
                   or json.loads(eval_file(folder, t).read_text(encoding="utf-8")).get("settings") != settings]
        if not missing:
            continue
        log(f"reference {reference} ...")
        model = "bm25" if reference == "bm25" else _load_for_evaluation(config.model, config)
        evaluate_targets(model, reference, missing, folder, output_dir, config, collections, log)


def _write_json(path: Path, record: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        json.dump(record, handle, indent=1, default=str)


def is_finished(output_dir: Path, cell: Cell, config: ExperimentConfig) -> bool:
    """A cell is done when its result was computed under the experiment's evaluation settings."""
    path = output_dir / "cells" / cell.key / RESULT_FILE
    if not path.is_file():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get("evaluation_settings") == \
        evaluation_settings(config.evaluation)


# --- the whole experiment ----------------------------------------------------------------------

def run_experiment(config: ExperimentConfig, output_dir: str | Path, *, shard: tuple[int, int] = (1, 1),
                   keep_models: bool = False, max_cells: int | None = None, log: Log = print) -> ExperimentRun:
    """Run this shard's unfinished cells (at most ``max_cells``), then write the report of every
    finished cell in ``output_dir``.

    >>> from bixse.experiment import load_experiment, run_experiment
    >>> run = run_experiment(load_experiment("experiments/paper-ablations.yaml"), "runs/paper")  # doctest: +SKIP
    """
    from bixse.experiment.report import write_experiment_report

    output = Path(output_dir)
    cells = shard_of(config.cells(), shard)
    collections = Collections()
    _check_same_experiment(config, output)
    source_files = prepare(config, cells, output, collections)
    _record_experiment(config, output)
    run = ExperimentRun(output, cells)
    if max_cells is not None and max_cells < 1:
        raise InputError(f"must be at least 1, got {max_cells}", field="max_cells")
    if shard[0] == 1:
        run_references(config, config.cells(), output, collections, log)
    todo = [cell for cell in cells if not is_finished(output, cell, config)]
    run.skipped = [cell.key for cell in cells if cell not in todo]
    for number, cell in enumerate(todo[:max_cells] if max_cells is not None else todo, start=1):
        log(f"[{number}/{len(todo)}] {cell.key}")
        source = cell.labels
        source_file = materialise_judged(source, output, collections) if source.kind == "judge" \
            else source_files[source.name]
        run_cell(config, cell, output, source_file, collections, keep_models, log)
        run.ran.append(cell.key)
    run.report = write_experiment_report(output)
    return run


def _check_same_experiment(config: ExperimentConfig, output: Path) -> None:
    """A folder holds one experiment (by name); its file may change between runs (more seeds, say)."""
    recorded = output / "experiment.yaml"
    if recorded.is_file():
        previous = _experiment_name(recorded.read_text(encoding="utf-8"))
        if previous != config.name:
            raise InputError(f"the folder holds another experiment ('{previous}'); use another output folder",
                             path=output, field="output")


def _record_experiment(config: ExperimentConfig, output: Path) -> None:
    """Keep the experiment file as run beside its results (the report reads it)."""
    output.mkdir(parents=True, exist_ok=True)
    with atomic_write(output / "experiment.yaml") as handle:
        handle.write(config.text)


def _experiment_name(text: str) -> str | None:
    import yaml

    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    return values.get("name") if isinstance(values, dict) else None
