"""``TrainConfig``: everything one training run needs, from a config file, the CLI or code.

Every field is a ``bixse train`` option (``loss_params`` -> ``--loss-param name=value``); a config
file (TOML or YAML, flat, field names as keys) gives the same fields, and options given on the
command line override it. ``resolved()`` fills the defaults that depend on other fields, and
``to_dict()`` is what ``bixse-train-config.yaml`` records next to the trained model, with the
facts of ``RECORDED_FACTS`` (a fingerprint of the data) that set nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from bixse.errors import InputError
from bixse.io import read_text

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("cpu", "cuda")
# Trackers the trainer can report to (transformers' report_to); "none" keeps only the JSONL log.
REPORT_TO = ("none", "tensorboard", "wandb")

# Loss parameters a run uses unless the config sets them (recorded in the resolved config and the
# model card). BiXSE's logit is 20 * cos + b: from b = 0 the in-batch negatives of a same-domain
# batch (MiniLM cosine ~0.25 on Cranfield) start at p ~ 0.99, and the BCE first pushes every pair
# apart: dev nDCG@10 fell from 0.443 to 0.077 in one epoch. From b = -15 they start near p = 0 and
# a graded pair reaches p = 0.5 at cosine 0.75: 0.465 after one epoch (b = -10: 0.430, -20: 0.448).
# The multi-positive losses default to the authors' plain dot product (scale 1), made for
# unnormalised encoders; on a normalising model (most sentence-transformers, MiniLM included) that
# is a softmax at temperature 1 over cosines in [-1, 1]. They get InfoNCE's 20 * cos instead:
# Cranfield test nDCG@10 after 30 steps of 32 on human labels, LSEPair 0.289 -> 0.386, base 0.343.
_SAME_SCALE_AS_INFONCE = {"similarity": "cosine", "scale": 20.0}
RECIPE_LOSS_PARAMS: dict[str, dict[str, Any]] = {
    "bixse": {"bias": -15.0},
    "bixse_ring": {"bias": -15.0},
    **{loss: dict(_SAME_SCALE_AS_INFONCE) for loss in ("jointlh", "summarglh", "lsepair", "rand1lh")},
}

# The dev split a run scores unless told otherwise; a collection without it trains without dev
# scores. Any other name must be a split of the dev collection (a typo is an error, not silence).
DEFAULT_DEV_SPLIT = "dev"

# Keys bixse train records beside the settings in bixse-train-config.yaml: facts about the run
# (``data_sha256``: the sha256 of the training data; ``processes``: the data-parallel world size,
# which sets the global batch) that --resume checks. A config file may hold them, being a copy of
# that file, but they set nothing.
RECORDED_FACTS = ("data_sha256", "processes")

# Fields that change what a resumed run computes: a checkpoint is resumed only under equal values.
# mini_batch_size is not one: GradCache computes the same loss and gradients at any mini-batch
# size (or none), so a run may resume with another to fit the memory it finds.
RUN_DEFINING_FIELDS = (
    "model", "data", "collection", "split", "loss", "loss_params", "hard_negatives", "positive_threshold",
    "max_candidates", "batch_size", "learning_rate", "loss_learning_rate", "warmup_ratio", "weight_decay",
    "epochs", "max_steps", "max_seq_length", "seed", "precision", "gradient_accumulation_steps",
)


@dataclass
class TrainConfig:
    """One fine-tuning run of a bi-encoder (see ``bixse.training.train``).

    Data: ``data`` (a JSONL training file: graded pairs or multi-positive groups, ids resolved
    against ``collection``) or, when ``data`` is None, the human grades of ``collection``'s
    ``split`` (gain / max gain as the target probability).
    """

    # Model and data
    model: str = "all-MiniLM-L6-v2"
    data: str | None = None
    collection: str = "cranfield"
    split: str = "train"
    # Loss and how rows are built for it
    loss: str = "bixse"
    loss_params: dict[str, Any] = field(default_factory=dict)
    hard_negatives: int = 0
    positive_threshold: float = 0.5
    max_candidates: int = 32
    # Optimisation
    batch_size: int = 32
    mini_batch_size: int | None = None  # GradCache: embed the batch this many rows at a time
    learning_rate: float = 5e-5
    loss_learning_rate: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    epochs: float = 1.0
    max_steps: int | None = None
    max_seq_length: int | None = 128
    seed: int = 0
    precision: str = "auto"
    # Passed through to SentenceTransformerTrainingArguments
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    device: str | None = None        # cpu or cuda; None: cuda where there is one
    report_to: str = "none"
    # Checkpoints, evaluation, logging
    output_dir: str = "bixse-model"
    checkpoint_steps: int = 100
    save_total_limit: int = 2
    keep_checkpoints: bool = False
    resume: bool = False
    overwrite: bool = False
    eval_steps: int = 0
    dev_collection: str | None = None
    dev_split: str | None = DEFAULT_DEV_SPLIT
    load_best_model_at_end: bool = False   # keep the checkpoint with the best dev nDCG@10
    logging_steps: int = 5
    # After saving: upload the output folder to this Hugging Face hub repo
    push_to_hub: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject values no run could use, naming the field."""
        positive = {"batch_size": self.batch_size, "learning_rate": self.learning_rate, "epochs": self.epochs,
                    "checkpoint_steps": self.checkpoint_steps, "logging_steps": self.logging_steps,
                    "max_candidates": self.max_candidates}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                    and math.isfinite(value)):
                raise InputError(f"must be a positive number, got {value!r}", field=name)
        if self.loss_learning_rate is not None and not (
                isinstance(self.loss_learning_rate, (int, float)) and self.loss_learning_rate > 0):
            raise InputError(f"must be a positive number or unset, got {self.loss_learning_rate!r}",
                             field="loss_learning_rate")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps <= 0):
            raise InputError(f"must be a positive integer or unset, got {self.max_steps!r}", field="max_steps")
        if self.mini_batch_size is not None:
            if not isinstance(self.mini_batch_size, int) or isinstance(self.mini_batch_size, bool) \
                    or self.mini_batch_size <= 0:
                raise InputError(f"must be a positive integer or unset, got {self.mini_batch_size!r}",
                                 field="mini_batch_size")
            if self.mini_batch_size > self.batch_size:
                raise InputError(f"{self.mini_batch_size} is larger than batch_size ({self.batch_size}): a "
                                 "mini-batch splits the batch, so give at most batch_size, or leave it unset "
                                 "to embed the whole batch at once", field="mini_batch_size")
        if self.max_seq_length is not None and (not isinstance(self.max_seq_length, int) or self.max_seq_length < 8):
            raise InputError(f"must be an integer >= 8 or unset, got {self.max_seq_length!r}", field="max_seq_length")
        for name in ("hard_negatives", "eval_steps", "save_total_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"must be an integer >= 0, got {value!r}", field=name)
        if not 0 <= self.warmup_ratio < 1:
            raise InputError(f"must be in [0, 1), got {self.warmup_ratio!r}", field="warmup_ratio")
        if not 0 <= self.positive_threshold <= 1:
            raise InputError(f"must be in [0, 1], got {self.positive_threshold!r}", field="positive_threshold")
        if self.weight_decay < 0:
            raise InputError(f"must be >= 0, got {self.weight_decay!r}", field="weight_decay")
        if self.precision not in PRECISIONS:
            raise InputError(f"must be one of {', '.join(PRECISIONS)}, got {self.precision!r}", field="precision")
        if not isinstance(self.gradient_accumulation_steps, int) or isinstance(self.gradient_accumulation_steps, bool) \
                or self.gradient_accumulation_steps < 1:
            raise InputError(f"must be a positive integer, got {self.gradient_accumulation_steps!r}",
                             field="gradient_accumulation_steps")
        if self.device is not None and self.device not in DEVICES:
            raise InputError(f"must be one of {', '.join(DEVICES)} or unset, got {self.device!r}", field="device")
        if self.report_to not in REPORT_TO:
            raise InputError(f"must be one of {', '.join(REPORT_TO)}, got {self.report_to!r}", field="report_to")
        if self.load_best_model_at_end:
            if not self.eval_steps or self.dev_split is None:
                raise InputError("keeping the best checkpoint by dev nDCG@10 needs eval_steps > 0 and a dev_split",
                                 field="load_best_model_at_end")
            if self.checkpoint_steps % self.eval_steps:
                raise InputError(f"must be a multiple of eval_steps ({self.eval_steps}) to keep the best "
                                 f"checkpoint, got {self.checkpoint_steps}", field="checkpoint_steps")
        if self.push_to_hub is not None and (not isinstance(self.push_to_hub, str) or not self.push_to_hub.strip()):
            raise InputError(f"must be a hub repo id (user/name) or unset, got {self.push_to_hub!r}",
                             field="push_to_hub")
        if self.resume and self.overwrite:
            raise InputError("resume continues the run in output_dir, overwrite discards it: give one of them",
                             field="resume")
        if not isinstance(self.loss_params, dict):
            raise InputError(f"must be a mapping of parameter name to value, got {self.loss_params!r}",
                             field="loss_params")

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir).expanduser()

    @property
    def label_threshold(self) -> float:
        """The positive threshold the data is split with: the loss's own when given, else ours."""
        return float(self.loss_params.get("positive_threshold", self.positive_threshold))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig(**{**self.to_dict(), **changes})

    def differing_run_fields(self, other: TrainConfig) -> list[str]:
        """Fields that define the run and differ between ``self`` and ``other``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [name for name in RUN_DEFINING_FIELDS if mine[name] != theirs[name]]


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


FLOAT_FIELDS = ("learning_rate", "loss_learning_rate", "warmup_ratio", "weight_decay", "epochs",
                "positive_threshold")


def yaml_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; take such strings as the numbers they spell."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def config_from_mapping(values: dict[str, Any], path: str | Path | None = None) -> TrainConfig:
    """A config from a flat mapping; unknown keys are an error that names the key (and file)."""
    known = set(field_names())
    values = {key: value for key, value in values.items() if key not in RECORDED_FACTS}
    for key in values:
        if key not in known:
            raise InputError(f"unknown setting; known settings: {', '.join(sorted(known))}", path=path, field=key)
    values = {key: yaml_number(value) if key in FLOAT_FIELDS else value for key, value in values.items()}
    if isinstance(values.get("loss_params"), dict):
        values["loss_params"] = {key: yaml_number(value) for key, value in values["loss_params"].items()}
    try:
        return TrainConfig(**values)
    except InputError as error:
        raise InputError(error.message, path=path, field=error.field) from None
    except TypeError as error:  # e.g. a string where a number belongs, caught by a comparison
        raise InputError(f"invalid value: {error}", path=path) from None


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file.

    A TOML file may keep loss parameters in a ``[loss_params]`` table; YAML in a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path=path)
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise InputError("config file must end in .toml, .yaml or .yml", path=path)
    parse = _toml().loads if path.suffix == ".toml" else yaml.safe_load
    text = read_text(path)
    try:
        values = parse(text) or {}
    except (ValueError, yaml.YAMLError) as error:  # tomllib.TOMLDecodeError is a ValueError
        raise InputError(f"cannot parse config: {error}", path=path) from None
    if not isinstance(values, dict):
        raise InputError("config file must hold a mapping of settings", path=path)
    return config_from_mapping(values, path)


def _toml() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise InputError("TOML configs need Python >= 3.11; use a YAML config", field="config") from None
    return tomllib


def parse_loss_params(items: list[str]) -> dict[str, Any]:
    """``["scale=20", "learnable_bias=false"]`` -> ``{"scale": 20, "learnable_bias": False}`` (YAML scalars)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"expected name=value, got {item!r}", field="loss_param")
        params[name.strip()] = yaml_number(yaml.safe_load(raw)) if raw.strip() else ""
    return params
