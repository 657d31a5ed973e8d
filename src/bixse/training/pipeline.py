"""``train(config) -> Path``: check everything, build the rows, run ``SentenceTransformerTrainer``, save.

Order matters: every input error (unknown loss or parameter, data the loss cannot learn from,
missing columns, unreadable model path, an unknown dev split, an output folder holding another
run or files that are not a run, a resume on changed data, a GPU or tracker package that is not
there) is raised by ``prepare`` before a model is loaded or a step is computed; ``run`` writes
nothing into the output folder until the model has loaded.

Output folder::

    <output_dir>/                  a plain sentence-transformers model (SentenceTransformer(path))
        README.md                  model card: base model, data, labels' source, loss, hyperparameters, dev scores
        bixse-train-config.yaml    the resolved config (a valid --config for a rerun) and the data's sha256
        training_log.jsonl         one record per logging step (loss, learning rate, grad norm, dev scores)
        checkpoints/checkpoint-N/  while training (and after, with keep_checkpoints)
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bixse.collections import Collection
from bixse.errors import InputError
from bixse.io import atomic_write, plain_file_mode, read_text
from bixse.training.config import DEFAULT_DEV_SPLIT, RECIPE_LOSS_PARAMS, TrainConfig, config_from_mapping
from bixse.training.dataset import BuiltDataset, build_rows, dataset_rows, read_layout_file
from bixse.training.precision import resolve_training_precision
from bixse.training.sources import TrainingLabels, data_fingerprint, is_layout_file, load_collection, load_labels

logger = logging.getLogger(__name__)

CONFIG_FILE = "bixse-train-config.yaml"
LOG_FILE = "training_log.jsonl"
CHECKPOINTS = "checkpoints"


@dataclass
class PreparedRun:
    """A run that passed every check: what ``run`` needs, nothing computed yet."""

    config: TrainConfig
    model_path: str
    loss_class: type
    loss_params: dict[str, Any]
    rows: BuiltDataset
    labels: TrainingLabels | None
    dev_collection: Collection | None
    precision: str
    output: Path
    resume_from: Path | None
    finished: bool = False
    data_sha256: str | None = None   # None for rows given in code
    cuda: bool = False               # trains on a GPU


# --- checks ----------------------------------------------------------------------------------

def check_loss(config: TrainConfig) -> tuple[type, dict[str, Any]]:
    """The loss class and its parameters, validated by building it without a model."""
    from bixse.losses import LOSSES
    from bixse.training.trainer import loss_own_parameters

    if config.loss not in LOSSES:
        raise InputError(f"unknown loss '{config.loss}'; choose one of: {', '.join(sorted(LOSSES))}", field="loss")
    loss_class = LOSSES[config.loss]
    params = {**RECIPE_LOSS_PARAMS.get(config.loss, {}), **config.loss_params}
    accepted = inspect.signature(loss_class.__init__).parameters
    if "positive_threshold" in accepted and "positive_threshold" not in params:
        params["positive_threshold"] = config.positive_threshold
    try:
        built = loss_class(None, **params)
    except TypeError as error:
        raise InputError(f"loss '{config.loss}' does not take these parameters ({error}); it takes: "
                         f"{', '.join(p for p in accepted if p not in ('self', 'model'))}", field="loss_params") from None
    except InputError as error:
        field = f"loss_params.{error.field}" if error.field else "loss_params"
        raise InputError(f"loss '{config.loss}': {error.message}", field=field) from None
    except ValueError as error:
        raise InputError(f"loss '{config.loss}': {error}", field="loss_params") from None
    if config.loss_learning_rate is not None and not loss_own_parameters(built):
        raise InputError(f"loss_learning_rate is the rate of the loss's own trainable parameters, and loss "
                         f"'{config.loss}' with these parameters has none (e.g. BiXSE's bias with "
                         "learnable_bias=false)", field="loss_learning_rate")
    if getattr(loss_class, "needs_distributed", False) and launched_processes() < 2:
        raise InputError(f"loss '{config.loss}' exchanges document blocks between processes: run it under "
                         "torchrun with 2 or more (on one process use 'bixse', the same loss)", field="loss")
    return loss_class, params


def check_model(config: TrainConfig) -> str:
    from bixse.models import check_model_name

    return check_model_name(config.model)


def check_device(config: TrainConfig) -> bool:
    """Whether the run trains on a GPU: as ``device`` says (``cuda`` must exist), else where there is one."""
    import torch

    if config.device == "cuda" and not torch.cuda.is_available():
        raise InputError("no CUDA device here (torch.cuda.is_available() is False): use cpu, or leave the device "
                         "unset", field="device")
    return torch.cuda.is_available() if config.device is None else config.device == "cuda"


def check_trainer_services(config: TrainConfig) -> None:
    """The packages and network that ``report_to`` and ``push_to_hub`` need, before any compute."""
    from huggingface_hub import constants
    from transformers.integrations import is_tensorboard_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    if config.report_to in available and not available[config.report_to]():
        raise InputError(f"reporting to {config.report_to} needs the {config.report_to} package "
                         f"(pip install {config.report_to})", field="report_to")
    if config.push_to_hub is not None and constants.HF_HUB_OFFLINE:
        raise InputError("pushing to the hub, but HF_HUB_OFFLINE is set; unset it, or push the saved folder later "
                         "with SentenceTransformer(folder).push_to_hub(repo)", field="push_to_hub")


def build_training_rows(config: TrainConfig, layout: str, collection: Collection | None,
                        dataset: Any = None) -> tuple[BuiltDataset, TrainingLabels | None]:
    if dataset is not None:
        return dataset_rows(dataset, layout, config.loss), None
    if config.data is not None and Path(config.data).is_file() and is_layout_file(config.data):
        return read_layout_file(config.data, layout, config.loss), None
    assert collection is not None
    if config.hard_negatives and layout not in ("pointwise", "contrastive"):
        logger.warning("hard_negatives=%d is ignored: loss '%s' reads each query's judged documents as one "
                       "candidate list", config.hard_negatives, config.loss)
    labels = load_labels(config.data, collection, config.split)
    rows = build_rows(labels.examples, layout, loss=config.loss, hard_negatives=config.hard_negatives,
                      positive_threshold=config.label_threshold, max_candidates=config.max_candidates,
                      origin=labels.origin)
    return rows, labels


def dev_collection(config: TrainConfig, train_collection: Collection | None) -> Collection | None:
    """The collection to score on ``dev_split``, or None when there is no dev evaluation."""
    if config.dev_split is None:
        if config.eval_steps:
            raise InputError("eval_steps is set but dev_split is not", field="eval_steps")
        return None
    name = config.dev_collection or config.collection
    collection = train_collection if train_collection is not None and name == config.collection \
        else load_collection(name, "dev_collection")
    if config.dev_split not in collection.split_names():
        if config.dev_split != DEFAULT_DEV_SPLIT or config.eval_steps or config.dev_collection:
            known = ", ".join(collection.split_names())
            raise InputError(f"collection '{collection.name}' has no split '{config.dev_split}' (known: {known})",
                             field="dev_split")
        logger.info("no dev split '%s' in %s: no dev evaluation", config.dev_split, collection.name)
        return None
    return collection


@dataclass(frozen=True)
class SavedRun:
    """What ``bixse-train-config.yaml`` says about the run in a folder."""

    config: TrainConfig
    data_sha256: str | None   # None in folders written before the fingerprint was recorded
    processes: int | None = None  # None likewise


def saved_run(output: Path) -> SavedRun | None:
    path = output / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        values = yaml.safe_load(read_text(path)) or {}
    except yaml.YAMLError as error:
        raise InputError(f"cannot parse the resolved config of the run in this folder: {error}", path=path) from None
    if not isinstance(values, dict):
        raise InputError("expected a mapping of settings", path=path)
    processes = values.get("processes")
    return SavedRun(config_from_mapping(values, path), values.get("data_sha256"),
                    processes if isinstance(processes, int) else None)


def _check_same_data(config: TrainConfig, recorded: str, current: str) -> None:
    if recorded == current:
        return
    what = ("the training file" if config.data is not None
            else f"the qrels of collection '{config.collection}', split '{config.split}'")
    raise InputError(f"cannot resume: {what} changed since the run in {config.output_path} started (sha256 "
                     f"{recorded[:12]}..., now {current[:12]}...); restore it, or use --overwrite to start over",
                     path=config.data, field="data")


def launched_processes() -> int:
    """The data-parallel world size this process was launched into (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_output(config: TrainConfig, data_sha256: str | None = None) -> tuple[Path | None, bool]:
    """(checkpoint to resume from, whether the run already finished) for this output folder.

    ``data_sha256``: the fingerprint of the data this run would train on (see
    ``data_fingerprint``); a resume is refused when the folder recorded another one.
    """
    from bixse.training.trainer import last_complete_checkpoint

    output = config.output_path
    if output.exists() and not output.is_dir():
        raise InputError("output path exists and is not a folder", path=output, field="output_dir")
    has_model = (output / "modules.json").is_file()
    has_run = has_model or (output / CHECKPOINTS).is_dir() or (output / LOG_FILE).is_file()
    if not config.overwrite and not has_run and not (output / CONFIG_FILE).is_file() \
            and output.is_dir() and any(output.iterdir()):
        raise InputError(f"the output folder holds files but no bixse training run (no {CONFIG_FILE}, "
                         f"modules.json, {CHECKPOINTS}/ or {LOG_FILE}): the model and its README.md would "
                         "replace them; choose a new or empty folder, or pass --overwrite",
                         path=output, field="output_dir")
    if config.overwrite or not has_run:
        return None, False
    if not config.resume:
        raise InputError("the output folder already holds a training run; pass --resume to continue it or "
                         "--overwrite to start over", path=output, field="output_dir")
    saved = saved_run(output)
    previous = saved.config if saved is not None else None
    if previous is not None and (changed := config.differing_run_fields(previous)):
        raise InputError(f"cannot resume: the run in this folder was started with other values of "
                         f"{', '.join(changed)} (see {CONFIG_FILE}); use --overwrite to start over",
                         path=output, field=changed[0])
    if saved is not None and saved.data_sha256 is not None and data_sha256 is not None:
        _check_same_data(config, saved.data_sha256, data_sha256)
    if saved is not None and saved.processes is not None and saved.processes != launched_processes():
        raise InputError(f"cannot resume: the run in this folder was started on {saved.processes} process(es), "
                         f"this one has {launched_processes()}; the global batch (batch_size x processes), its "
                         "batches and the steps already taken would differ. Relaunch on as many, or use --overwrite",
                         path=output, field="processes")
    checkpoint = last_complete_checkpoint(output / CHECKPOINTS)
    finished = checkpoint is None and has_model and previous is not None
    return checkpoint, finished


def prepare(config: TrainConfig, dataset: Any = None) -> PreparedRun:
    """Every check and the training rows; raises ``InputError`` before any compute."""
    loss_class, loss_params = check_loss(config)
    model_path = check_model(config)
    cuda = check_device(config)
    precision = resolve_training_precision(config.precision, cuda)
    check_trainer_services(config)
    needs_collection = dataset is None and not (
        config.data is not None and Path(config.data).is_file() and is_layout_file(config.data))
    collection = load_collection(config.collection) if needs_collection else None
    dev = dev_collection(config, collection)
    rows, labels = build_training_rows(config, loss_class.layout, collection, dataset)
    # After the rows: reading them has checked the file and the split the fingerprint covers.
    data_sha256 = None if dataset is not None else data_fingerprint(config.data, collection, config.split)
    resume_from, finished = check_output(config, data_sha256)
    return PreparedRun(config, model_path, loss_class, loss_params, rows, labels, dev, precision,
                       config.output_path, resume_from, finished, data_sha256, cuda)


# --- the run ---------------------------------------------------------------------------------

def train(config: TrainConfig, dataset: Any = None, callbacks: list[Any] | None = None) -> Path:
    """Fine-tune ``config.model`` as ``config`` says; return the output model folder.

    ``dataset``: optional ready-made rows (a ``datasets.Dataset`` in the training layout) used
    instead of ``config.data`` / the collection's qrels. ``callbacks``: extra
    ``transformers.TrainerCallback``s (timing, early stopping...).

    >>> from bixse.training import TrainConfig, train
    >>> folder = train(TrainConfig(loss="bixse", epochs=1, output_dir="models/bixse"))  # doctest: +SKIP
    """
    prepared = prepare(config, dataset)
    if prepared.finished:
        logger.warning("%s already holds the finished model of this run; nothing to do", prepared.output)
        return prepared.output
    return run(prepared, callbacks)


def warmup_steps(config: TrainConfig) -> float | int:
    """The trainer's ``warmup_steps``: with ``max_steps`` a whole number, ``floor(ratio * steps)``,
    else the ratio itself (transformers takes a float below 1 as a ratio and rounds it *up*).

    Why not the ratio every time: warmup starts at learning rate 0 (a run's first warmup step
    trains nothing), so rounding up gave ``--max-steps 1`` one warmup step (ceil(0.1) = 1) and a
    run that changed no weight. Rounding down gives so short a run no warmup at all; where the
    product is whole (100 steps at 0.1: 10) both roundings agree."""
    return int(config.warmup_ratio * config.max_steps) if config.max_steps else config.warmup_ratio


def _training_arguments(prepared: PreparedRun, world: int) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments

    from bixse.training.evaluator import DEV_MEASURES
    from bixse.training.precision import precision_arguments
    from bixse.training.sampler import QueryBatchSampler

    config = prepared.config
    evaluating = bool(config.eval_steps) and prepared.dev_collection is not None
    best = config.load_best_model_at_end
    # transformers 5 renamed gradient_checkpointing (the old name still works, with a warning).
    checkpointing = "activation_checkpointing" if hasattr(SentenceTransformerTrainingArguments,
                                                          "activation_checkpointing") else "gradient_checkpointing"
    return SentenceTransformerTrainingArguments(
        output_dir=str(prepared.output / CHECKPOINTS),
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=warmup_steps(config),
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=QueryBatchSampler,
        dataloader_drop_last=world > 1,
        save_strategy="steps",
        save_steps=config.checkpoint_steps,
        save_total_limit=config.save_total_limit or None,
        eval_strategy="steps" if evaluating else "no",
        eval_steps=config.eval_steps or None,
        eval_on_start=evaluating and prepared.resume_from is None,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to=config.report_to,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        load_best_model_at_end=best,
        metric_for_best_model=f"eval_{DEV_MEASURES[0]}" if best else None,
        greater_is_better=True if best else None,
        **{checkpointing: config.gradient_checkpointing},
        **precision_arguments(prepared.precision, prepared.cuda),
    )


def run(prepared: PreparedRun, callbacks: list[Any] | None = None) -> Path:
    """Train a prepared run (see ``prepare``) and write the output folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
    from transformers.trainer_callback import ProgressCallback

    from bixse.training.callbacks import JsonlLogCallback, LossProgressCallback, SamplerEpochCallback
    from bixse.training.evaluator import DevEvaluator
    from bixse.training.trainer import BixseTrainer, loss_own_parameters

    config, output = prepared.config, prepared.output
    args = _training_arguments(prepared, world=launched_processes())
    world = args.world_size
    torch.manual_seed(config.seed)
    model = SentenceTransformer(prepared.model_path, device=str(args.device))
    # Only now that the model has loaded: a model that fails to load leaves the folder untouched.
    if args.process_index == 0:
        if config.overwrite:
            _clear_run(output)
        write_resolved_config(prepared, world)
    loss = prepared.loss_class(model, **prepared.loss_params)
    if config.mini_batch_size is not None:
        from bixse.losses.cached import CachedLoss

        loss = CachedLoss(loss, config.mini_batch_size)
    if config.loss_learning_rate is not None and loss_own_parameters(loss):
        # Names of the loss's own parameters (e.g. "bias") do not start with the wrapped "model.".
        args.learning_rate_mapping = {r"^(?!model\.)": config.loss_learning_rate}
    evaluator = DevEvaluator(prepared.dev_collection, config.dev_split) if prepared.dev_collection else None
    # max_length truncates training inputs only: the saved model keeps the base model's own
    # limit, so it is evaluated like the base model.
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, max_length=config.max_seq_length)
    trainer = BixseTrainer(model=model, args=args, train_dataset=prepared.rows.to_dataset(), loss=loss,
                           evaluator=evaluator if args.eval_strategy != "no" else None,
                           data_collator=collator,
                           callbacks=[JsonlLogCallback(output / LOG_FILE), SamplerEpochCallback(), *(callbacks or [])])
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(LossProgressCallback())
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(prepared.resume_from) if prepared.resume_from else None)
    runtime = time.perf_counter() - started
    if trainer.is_world_process_zero():
        dev_scores = _final_dev_scores(evaluator, model, trainer.state, output / LOG_FILE)
        _log_learned_scalars(loss, trainer.state.global_step, output / LOG_FILE)
        _finish(prepared, model, loss, trainer, dev_scores, world, runtime)
        if config.push_to_hub is not None:
            # The folder as saved (model, card, resolved config, log), not a fresh card of the hub's.
            url = model.push_to_hub(config.push_to_hub, local_model_path=str(output), exist_ok=True)
            logger.warning("pushed %s to %s", output, url)
    return output


def _final_dev_scores(evaluator: Any, model: Any, state: Any, log: Path) -> list[dict[str, Any]]:
    """Dev scores of the final model (scored now unless the trainer just did); logged like the trainer's."""
    if evaluator is None:
        return []
    if not evaluator.history or evaluator.history[-1]["step"] != state.global_step:
        scores = evaluator(model, epoch=state.epoch, steps=state.global_step)
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                  **{f"eval_{name}": value for name, value in scores.items()}}
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return evaluator.history


def _log_learned_scalars(loss: Any, step: int, log: Path) -> None:
    # Recorded because a scalar at the encoder's learning rate may barely move (AdamW moves it by
    # about the sum of the schedule, 0.0025 over 100 steps at 5e-5): the log shows whether it did.
    from bixse.training.trainer import loss_own_named_parameters

    # "loss." is CachedLoss's prefix for the loss it wraps.
    learned = {name.removeprefix("loss."): round(float(parameter.detach()), 6)
               for name, parameter in loss_own_named_parameters(loss) if parameter.numel() == 1}
    if learned:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, "learned_loss_parameters": learned}) + "\n")


def _finish(prepared: PreparedRun, model: Any, loss: Any, trainer: Any, dev_scores: list[dict[str, Any]],
            world: int, runtime: float) -> None:
    from bixse.training.model_card import CardFacts, render_card

    config, output = prepared.config, prepared.output
    save_model_atomically(model, output)
    labels = prepared.labels
    facts = CardFacts(
        config=config.to_dict(), base_model=config.model,
        data_origin=labels.origin if labels else (config.data or "rows given in code"),
        data_kind=labels.kind if labels else "training rows", num_labels=len(labels.examples) if labels
        else prepared.rows.num_rows, num_queries=labels.num_queries if labels else prepared.rows.num_queries,
        label_sources=labels.label_sources if labels else {}, layout=prepared.rows.layout,
        num_rows=prepared.rows.num_rows, slots=prepared.rows.slots, dropped_queries=prepared.rows.dropped_queries,
        loss_class=type(loss).__name__, loss_params=loss.get_config_dict(),
        loss_params_configured=prepared.loss_params,
        loss_citation=getattr(loss, "citation", ""), precision=prepared.precision, world_size=world,
        device=str(model.device), global_step=trainer.state.global_step, runtime_s=runtime,
        dev=f"{prepared.dev_collection.name} / {config.dev_split}" if prepared.dev_collection else None,
        dev_scores=dev_scores, best_step=trainer.state.best_global_step if config.load_best_model_at_end else None)
    with atomic_write(output / "README.md") as handle:
        handle.write(render_card(facts, output))
    if not config.keep_checkpoints:
        tensorboard_runs = output / CHECKPOINTS / "runs"   # report_to tensorboard logs under the trainer's folder
        if tensorboard_runs.is_dir():
            shutil.copytree(tensorboard_runs, output / "runs", dirs_exist_ok=True)
        shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)


def save_model_atomically(model: Any, folder: Path) -> None:
    """Save into a hidden sibling folder, then move the files in, ``modules.json`` last.

    ``modules.json`` is what makes the folder load as a model, so a kill part-way leaves a
    folder that refuses to load rather than one that loads mixed weights.
    """
    incoming = folder / ".model-incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    (folder / "modules.json").unlink(missing_ok=True)
    model.save(str(incoming), create_model_card=False)
    _apply_umask(incoming)
    for entry in sorted(incoming.iterdir(), key=lambda p: p.name == "modules.json"):
        target = folder / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    incoming.rmdir()


def _apply_umask(folder: Path) -> None:
    """Give saved files the usual permissions: the weights file is written private (0600)."""
    mode = plain_file_mode()
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


def write_resolved_config(prepared: PreparedRun, world: int) -> None:
    """``bixse-train-config.yaml``: every field (a valid ``--config``), with the resolved facts as
    comments, and the data's fingerprint (``data_sha256``, which ``--resume`` checks)."""
    values = prepared.config.to_dict() | {"resume": False, "overwrite": False}
    facts = {"model path": prepared.model_path, "loss parameters used": prepared.loss_params,
             "loss layout": prepared.rows.layout,
             "training rows": prepared.rows.num_rows, "document slots": prepared.rows.slots,
             "precision": prepared.precision}
    header = "".join(f"# {name}: {value}\n" for name, value in facts.items())
    prepared.output.mkdir(parents=True, exist_ok=True)
    with atomic_write(prepared.output / CONFIG_FILE) as handle:
        handle.write("# bixse train: resolved configuration (use with: bixse train --config <this file>)\n")
        handle.write(header + yaml.safe_dump(values, sort_keys=False))
        recorded = {"processes": world} | ({"data_sha256": prepared.data_sha256} if prepared.data_sha256 else {})
        handle.write("# recorded, not settings: the data-parallel processes and the sha256 of the training data "
                     "(--resume refuses others)\n" + yaml.safe_dump(recorded))


def _clear_run(output: Path) -> None:
    shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
    (output / LOG_FILE).unlink(missing_ok=True)
    (output / "modules.json").unlink(missing_ok=True)
