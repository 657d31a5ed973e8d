"""An experiment file: fixed settings, named label sources, and grids whose product is the cells.

A cell is one training run (a loss, a label source, a label transform, a seed, a batch size and
a step budget) evaluated on every evaluation collection. The file is YAML::

    name: my-grid
    model: all-MiniLM-L6-v2              # base model of every cell
    training: {max_seq_length: 64}       # any `bixse train` setting, shared by every cell
    evaluation:
      collections: [cranfield:test, path/to/scifact:test]
      measures: [nDCG@10, R@100]
      max_seq_length: 128                # corpus and queries truncated here at evaluation
    baseline: infonce                    # each cell is tested against this loss on the same labels
    labels:
      cranfield-human: {collection: cranfield, split: train, candidates: {top_k: 20}}
    grids:
      noise:
        loss: [bixse, infonce]
        labels: [cranfield-human]
        transform: [none, {flip: 0.2}]
        seed: [0, 1, 2]
    claims:                              # optional: statements the report tests, one sentence each
      - claim: BiXSE beats InfoNCE
        arm: {loss: bixse, labels: cranfield-human}
        against: {loss: infonce}         # the arm's other fields unless stated
        paper: "42.29 vs 41.32"          # optional: the figures the claim comes from

Every error names the key (``grids.noise.loss[1]``) and the file, and is raised before anything
is trained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bixse.errors import InputError
from bixse.evaluation.measures import to_ir_measure
from bixse.judging.shards import parse_shard  # noqa: F401  (re-exported: the same i/n as bixse judge --shard)
from bixse.models import DEFAULT_MODEL
from bixse.training.config import PRECISIONS, field_names, yaml_number

AXES = ("loss", "labels", "transform", "seed", "batch_size", "max_steps")
TRANSFORM_KINDS = ("flip", "cutoff", "binarize")
# Settings a cell owns (its axes and what the runner decides); the rest of TrainConfig may be fixed.
CELL_OWNED_TRAINING = {"model", "data", "collection", "split", "loss", "loss_params", "seed", "batch_size",
                       "max_steps", "output_dir", "resume", "overwrite", "dev_collection", "dev_split",
                       "eval_steps", "push_to_hub", "load_best_model_at_end"}
TOP_KEYS = {"name", "model", "training", "evaluation", "baseline", "labels", "grids", "claims"}
CLAIM_KEYS = {"claim", "arm", "against", "paper", "min_effect"}
SELECTOR_KEYS = ("loss", "labels", "transform", "batch_size", "max_steps")
EVALUATION_KEYS = {"collections", "measures", "max_seq_length", "precision", "batch_size", "references",
                   "relevance_threshold"}
REFERENCES = ("base", "bm25")


def _digest(value: Any, length: int = 8) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]


@dataclass(frozen=True)
class LossEntry:
    """A loss of the grid: a registry name with parameters, shown as ``name``; ``loss_learning_rate``
    trains the loss's own parameters (BiXSE's bias) at their own rate (``bixse train``'s option)."""

    name: str
    loss: str
    params: tuple[tuple[str, Any], ...] = ()
    loss_learning_rate: float | None = None

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def spec(self) -> dict[str, Any]:
        # The rate joins the spec only when set, so the cells of grids written before it keep their keys.
        rate = {} if self.loss_learning_rate is None else {"loss_learning_rate": self.loss_learning_rate}
        return {"name": self.name, "loss": self.loss, "params": self.params_dict, **rate}


@dataclass(frozen=True)
class Candidates:
    """How the pairs of a collection label source are mined (a retriever's top ``top_k``)."""

    retriever: str = "bm25"
    top_k: int = 20


@dataclass(frozen=True)
class LabelSource:
    """Where a cell's training labels come from.

    kind ``collection``: the human grades of ``collection``'s ``split`` (gain / max gain), over
    its judged pairs, or over ``candidates`` mined from the collection (unjudged = 0).
    ``file``: a bixse training file (graded pairs). ``qrels``: any judge's qrels file, grades
    0..``max_grade``. ``judge``: ``candidates`` graded by a judge through the label cache.
    """

    name: str
    kind: str
    collection: str
    split: str = "train"
    path: str | None = None
    max_grade: int | None = None
    candidates: Candidates | None = None
    judge: str | None = None
    judge_options: tuple[tuple[str, Any], ...] = ()

    def spec(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "kind": self.kind, "collection": self.collection}
        if self.kind in ("collection", "judge"):
            record["split"] = self.split
        if self.path is not None:
            record["path"] = self.path
        if self.max_grade is not None:
            record["max_grade"] = self.max_grade
        if self.candidates is not None:
            record["candidates"] = {"retriever": self.candidates.retriever, "top_k": self.candidates.top_k}
        if self.judge is not None:
            record["judge"] = self.judge
            record["judge_options"] = dict(self.judge_options)
        return record


@dataclass(frozen=True)
class Transform:
    """A change to the labels before training: ``flip`` (y -> 1 - y with probability p, seeded),
    ``cutoff`` (drop pairs below c; the kept pairs are the positives), ``binarize`` (y -> [y >= t])."""

    kind: str = "none"
    value: float | None = None

    @property
    def name(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}{self.value:g}"

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}


@dataclass(frozen=True)
class EvalTarget:
    """A collection split evaluated zero-shot: ``collection:split``."""

    collection: str
    split: str

    @property
    def name(self) -> str:
        return f"{Path(self.collection).name}:{self.split}"


@dataclass(frozen=True)
class Evaluation:
    collections: tuple[EvalTarget, ...]
    measures: tuple[str, ...] = ("nDCG@10", "R@100")
    max_seq_length: int | None = 128
    precision: str = "auto"
    batch_size: int = 64
    references: tuple[str, ...] = ("base",)
    relevance_threshold: int = 1


def evaluation_settings(evaluation: Evaluation) -> dict[str, Any]:
    """What a cell's or reference's scores depend on besides the model: recorded with each score,
    and a recorded score is reused only under the same settings."""
    return {"measures": list(evaluation.measures), "max_seq_length": evaluation.max_seq_length,
            "precision": evaluation.precision, "relevance_threshold": evaluation.relevance_threshold}


@dataclass(frozen=True)
class Cell:
    """One training run of the grid and the collections it is evaluated on."""

    grid: str
    loss: LossEntry
    labels: LabelSource
    transform: Transform
    seed: int
    batch_size: int
    max_steps: int
    evaluation: tuple[EvalTarget, ...]
    fixed: tuple[tuple[str, Any], ...] = ()   # the experiment's model and shared training settings

    def spec(self) -> dict[str, Any]:
        """Everything that defines the cell's result (its identity)."""
        return {"loss": self.loss.spec(), "labels": self.labels.spec(), "transform": self.transform.spec(),
                "seed": self.seed, "batch_size": self.batch_size, "max_steps": self.max_steps,
                "fixed": dict(self.fixed), "evaluation": [[t.collection, t.split] for t in self.evaluation]}

    @property
    def arm(self) -> tuple[str, str, str, int, int]:
        """The cell without its seed: what seeds are averaged over."""
        return (self.loss.name, self.labels.name, self.transform.name, self.batch_size, self.max_steps)

    @property
    def key(self) -> str:
        """A folder name: readable, and unique by a digest of the spec."""
        readable = (f"{self.loss.name}__{self.labels.name}__{self.transform.name}__s{self.seed}"
                    f"__b{self.batch_size}__n{self.max_steps}")
        return f"{readable}-{_digest(self.spec())}"


@dataclass(frozen=True)
class Claim:
    """"``arm`` beats ``against``" on the pooled primary measure, tested by the report.

    Each side is an arm: (loss, labels, transform, batch size, steps), as ``Cell.arm``. The claim
    does not hold at this scale when the difference is significantly negative, or when a gain of
    ``min_effect`` (the smallest that would matter) is rejected; see ``bixse.experiment.claims``.
    """

    text: str
    arm: tuple[str, str, str, int, int]       # Cell.arm
    against: tuple[str, str, str, int, int]
    paper: str = ""
    min_effect: float = 0.01
    named: tuple[str, ...] = ()               # batch_size / max_steps when the claim's arm names them


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    model: str
    training: dict[str, Any]
    evaluation: Evaluation
    baseline: str
    labels: dict[str, LabelSource]
    grids: dict[str, dict[str, list[Any]]]
    losses: dict[str, LossEntry] = field(default_factory=dict)
    path: str | None = None
    text: str = ""   # the experiment as written (recorded beside its results)
    claims: tuple[Claim, ...] = ()

    def cells(self) -> list[Cell]:
        """Every cell, seed-major (all grids' seed-0 cells first), each once across grids.

        Seed-major order makes a partly run experiment a complete comparison for its first seeds.
        """
        ordered: dict[str, tuple[tuple[int, int, int], Cell]] = {}
        fixed = tuple(sorted({"model": self.model, **self.training}.items()))
        for grid_index, (grid_name, axes) in enumerate(self.grids.items()):
            targets = tuple(axes.get("evaluation") or self.evaluation.collections)
            product = itertools.product(axes["seed"], axes["labels"], axes["transform"], axes["loss"],
                                        axes["batch_size"], axes["max_steps"])
            for position, (seed, labels, transform, loss, batch, steps) in enumerate(product):
                cell = Cell(grid_name, loss, labels, transform, seed, batch, steps, targets, fixed)
                rank = (axes["seed"].index(seed), grid_index, position)
                if cell.key not in ordered:
                    ordered[cell.key] = (rank, cell)
        return [cell for _, cell in sorted(ordered.values(), key=lambda item: item[0])]

    def baseline_of(self, cell: Cell) -> Cell | None:
        """The baseline cell paired with ``cell`` (same labels, transform, seed, batch, budget)."""
        base = self.losses.get(self.baseline)
        if base is None or cell.loss.name == self.baseline:
            return None
        return Cell(cell.grid, base, cell.labels, cell.transform, cell.seed, cell.batch_size, cell.max_steps,
                    cell.evaluation, cell.fixed)


# --- parsing ---------------------------------------------------------------------------------

class _Reader:
    """Parses one file's mapping, every error naming the file and the key."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> InputError:
        return InputError(message, path=self.path, field=key)

    def mapping(self, value: Any, key: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {value!r}")
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    raise self.fail(f"{key}.{name}" if key else str(name),
                                    f"unknown key; known keys: {', '.join(sorted(allowed))}")
        return dict(value)

    def values(self, value: Any, key: str) -> list[Any]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise self.fail(key, "an axis needs at least one value")
        return values

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value.strip()


def _parse_loss(reader: _Reader, value: Any, key: str) -> LossEntry:
    from bixse.losses import LOSSES

    if isinstance(value, str):
        value = {"loss": value}
    entry = reader.mapping(value, key, {"name", "loss", "params", "loss_learning_rate"})
    loss = reader.text(entry.get("loss"), f"{key}.loss")
    if loss not in LOSSES:
        raise reader.fail(f"{key}.loss", f"unknown loss '{loss}'; choose one of: {', '.join(sorted(LOSSES))}")
    params = reader.mapping(entry.get("params") or {}, f"{key}.params")
    params = {name: yaml_number(param) for name, param in params.items()}
    name = reader.text(entry.get("name", loss), f"{key}.name")
    rate = yaml_number(entry.get("loss_learning_rate"))
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        raise reader.fail(f"{key}.loss_learning_rate", f"expected a positive number, got {entry['loss_learning_rate']!r}")
    return LossEntry(name, loss, tuple(sorted(params.items())), None if rate is None else float(rate))


def _parse_transform(reader: _Reader, value: Any, key: str) -> Transform:
    if value in (None, "none"):
        return Transform()
    entry = reader.mapping(value, key, set(TRANSFORM_KINDS))
    if len(entry) != 1:
        raise reader.fail(key, f"a transform is one of {', '.join(TRANSFORM_KINDS)} with its value, e.g. "
                          "{flip: 0.1}, or none")
    (kind, raw), = entry.items()
    number = yaml_number(raw)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= 1:
        raise reader.fail(f"{key}.{kind}", f"expected a number in [0, 1], got {raw!r}")
    if kind == "cutoff" and number == 0:
        raise reader.fail(f"{key}.{kind}", "a cutoff of 0 keeps every pair: use none")
    return Transform(kind, float(number))


def _parse_label_source(reader: _Reader, name: str, value: Any) -> LabelSource:
    key = f"labels.{name}"
    entry = reader.mapping(value, key, {"collection", "split", "file", "qrels", "max_grade", "candidates",
                                        "judge", "judge_options"})
    collection = reader.text(entry.get("collection"), f"{key}.collection")
    candidates = None
    if "candidates" in entry:
        raw = reader.mapping(entry["candidates"] or {}, f"{key}.candidates", {"retriever", "top_k"})
        candidates = Candidates(reader.text(raw.get("retriever", "bm25"), f"{key}.candidates.retriever"),
                                reader.integer(raw.get("top_k", 20), f"{key}.candidates.top_k", 1))
    split = reader.text(entry.get("split", "train"), f"{key}.split")
    if "file" in entry and "qrels" in entry:
        raise reader.fail(key, "give one of file and qrels")
    if "qrels" in entry:
        if "max_grade" not in entry:
            raise reader.fail(f"{key}.max_grade", "a qrels label source needs the top grade of its scale "
                              "(e.g. max_grade: 3 for 0-3 grades)")
        return LabelSource(name, "qrels", collection, path=reader.text(entry["qrels"], f"{key}.qrels"),
                           max_grade=reader.integer(entry["max_grade"], f"{key}.max_grade", 1))
    if "file" in entry:
        return LabelSource(name, "file", collection, path=reader.text(entry["file"], f"{key}.file"))
    if "judge" in entry:
        options = reader.mapping(entry.get("judge_options") or {}, f"{key}.judge_options")
        return LabelSource(name, "judge", collection, split, candidates=candidates or Candidates(),
                           judge=reader.text(entry["judge"], f"{key}.judge"),
                           judge_options=tuple(sorted(options.items())))
    return LabelSource(name, "collection", collection, split, candidates=candidates)


def _parse_target(reader: _Reader, value: Any, key: str) -> EvalTarget:
    if isinstance(value, Mapping):
        entry = reader.mapping(value, key, {"collection", "split"})
        return EvalTarget(reader.text(entry.get("collection"), f"{key}.collection"),
                          reader.text(entry.get("split", "test"), f"{key}.split"))
    text = reader.text(value, key)
    collection, sep, split = text.rpartition(":")
    return EvalTarget(collection, split) if sep and collection else EvalTarget(text, "test")


def _targets(reader: _Reader, value: Any, key: str) -> tuple[EvalTarget, ...]:
    targets = tuple(_parse_target(reader, item, f"{key}[{index}]")
                    for index, item in enumerate(reader.values(value, key)))
    names = [target.name for target in targets]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise reader.fail(f"{key}[{index}]", f"two evaluation collections are named '{name}' (folder name and "
                              "split): scores are kept by that name, so rename one folder")
    return targets


def _parse_evaluation(reader: _Reader, value: Any) -> Evaluation:
    entry = reader.mapping(value, "evaluation", EVALUATION_KEYS)
    targets = _targets(reader, entry.get("collections"), "evaluation.collections")
    measures = tuple(reader.text(m, f"evaluation.measures[{i}]")
                     for i, m in enumerate(reader.values(entry.get("measures", ["nDCG@10", "R@100"]),
                                                         "evaluation.measures")))
    for index, measure in enumerate(measures):
        try:
            to_ir_measure(measure)
        except InputError as error:
            raise reader.fail(f"evaluation.measures[{index}]", error.message) from None
    precision = entry.get("precision", "auto")
    if precision not in PRECISIONS:
        raise reader.fail("evaluation.precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    references = tuple(reader.values(entry.get("references", ["base"]), "evaluation.references")) \
        if entry.get("references", ["base"]) else ()
    for index, reference in enumerate(references):
        if reference not in REFERENCES:
            raise reader.fail(f"evaluation.references[{index}]",
                              f"unknown reference '{reference}'; choose from {', '.join(REFERENCES)}")
    max_length = entry.get("max_seq_length", 128)
    if max_length is not None:
        max_length = reader.integer(max_length, "evaluation.max_seq_length", 8)
    return Evaluation(targets, measures, max_length, precision,
                      reader.integer(entry.get("batch_size", 64), "evaluation.batch_size", 1), references,
                      reader.integer(entry.get("relevance_threshold", 1), "evaluation.relevance_threshold", 1))


def _parse_training(reader: _Reader, value: Any) -> dict[str, Any]:
    known = set(field_names()) - CELL_OWNED_TRAINING
    entry = reader.mapping(value or {}, "training", known | {"batch_size", "max_steps"})
    return {name: yaml_number(setting) for name, setting in entry.items()}


def _parse_grid(reader: _Reader, name: str, value: Any, labels: dict[str, LabelSource],
                training: dict[str, Any], losses: dict[str, LossEntry]) -> dict[str, list[Any]]:
    key = f"grids.{name}"
    entry = reader.mapping(value, key, {*AXES, "evaluation"})
    for required in ("loss", "labels"):
        if required not in entry:
            raise reader.fail(f"{key}.{required}", "missing axis")
    axes: dict[str, list[Any]] = {}
    axes["loss"] = [_parse_loss(reader, item, f"{key}.loss[{i}]")
                    for i, item in enumerate(reader.values(entry["loss"], f"{key}.loss"))]
    for loss in axes["loss"]:
        known = losses.setdefault(loss.name, loss)
        if known != loss:
            raise reader.fail(f"{key}.loss", f"two different losses are named '{loss.name}': give one a name")
    axes["labels"] = []
    for index, item in enumerate(reader.values(entry["labels"], f"{key}.labels")):
        if item not in labels:
            raise reader.fail(f"{key}.labels[{index}]", f"unknown label source '{item}'; defined under "
                              f"labels: {', '.join(labels) or 'none'}")
        axes["labels"].append(labels[item])
    axes["transform"] = [_parse_transform(reader, item, f"{key}.transform[{i}]")
                         for i, item in enumerate(reader.values(entry.get("transform", ["none"]), f"{key}.transform"))]
    defaults = {"seed": [0], "batch_size": [training.get("batch_size", 32)],
                "max_steps": [training.get("max_steps", 100)]}
    for axis in ("seed", "batch_size", "max_steps"):
        axes[axis] = [reader.integer(item, f"{key}.{axis}[{i}]", 0 if axis == "seed" else 1)
                      for i, item in enumerate(reader.values(entry.get(axis, defaults[axis]), f"{key}.{axis}"))]
    for axis, items in axes.items():
        if len(set(map(repr, items))) != len(items):
            raise reader.fail(f"{key}.{axis}", "a value is repeated")
    if "evaluation" in entry:
        axes["evaluation"] = list(_targets(reader, entry["evaluation"], f"{key}.evaluation"))
    return axes


Arm = tuple[str, str, str, int, int]


def _parse_selector(reader: _Reader, value: Any, key: str, defaults: dict[str, Any]) -> tuple[Any, ...]:
    """The fields a claim names for one side, in ``SELECTOR_KEYS`` order; None where unnamed."""
    entry = reader.mapping(value, key, set(SELECTOR_KEYS))
    fields = dict(defaults)
    for name, raw in entry.items():
        if name == "transform":
            fields[name] = _parse_transform(reader, raw, f"{key}.transform").name
        elif name in ("batch_size", "max_steps"):
            fields[name] = reader.integer(raw, f"{key}.{name}", minimum=1)
        else:
            fields[name] = reader.text(raw, f"{key}.{name}")
    return tuple(fields.get(name) for name in SELECTOR_KEYS)


def _match_arm(reader: _Reader, selector: tuple[Any, ...], evaluated: dict[Arm, set[tuple[EvalTarget, ...]]],
               key: str) -> Arm:
    """The one arm of the grids that agrees with every field the selector names, evaluated on one
    set of collections (an arm two grids evaluate differently has two scores: the claim would be ambiguous)."""
    matches = [arm for arm in evaluated if all(want is None or want == have for want, have in zip(selector, arm))]
    named = ", ".join(f"{name}={value}" for name, value in zip(SELECTOR_KEYS, selector) if value is not None)
    if len(matches) != 1:
        found = "no arm of the grids" if not matches else f"{len(matches)} arms (name more fields)"
        raise reader.fail(key, f"{named} matches {found}")
    if len(evaluated[matches[0]]) > 1:
        raise reader.fail(key, f"{named} is evaluated on different collections by different grids; a claim "
                          "needs an arm with one set of evaluation collections")
    return matches[0]


def _parse_claim(reader: _Reader, item: Any, key: str, evaluated: dict[Arm, set[tuple[EvalTarget, ...]]]) -> Claim:
    entry = reader.mapping(item, key, CLAIM_KEYS)
    for required in ("claim", "arm", "against"):
        if required not in entry:
            raise reader.fail(f"{key}.{required}", "missing key")
    arm = _match_arm(reader, _parse_selector(reader, entry["arm"], f"{key}.arm", {}), evaluated, f"{key}.arm")
    against = _match_arm(reader, _parse_selector(reader, entry["against"], f"{key}.against",
                                                 dict(zip(SELECTOR_KEYS, arm))), evaluated, f"{key}.against")
    if against == arm:
        raise reader.fail(f"{key}.against", "the same arm as the claim's arm")
    (mine,), (theirs,) = evaluated[arm], evaluated[against]
    if not set(mine) & set(theirs):
        raise reader.fail(f"{key}.against", "shares no evaluation collection with the claim's arm")
    min_effect = yaml_number(entry.get("min_effect", 0.01))
    if isinstance(min_effect, bool) or not isinstance(min_effect, (int, float)) or min_effect < 0:
        raise reader.fail(f"{key}.min_effect", f"expected a number >= 0, got {entry.get('min_effect')!r}")
    paper = reader.text(entry["paper"], f"{key}.paper") if "paper" in entry else ""
    named = tuple(k for k in SELECTOR_KEYS[3:] if isinstance(entry["arm"], dict) and k in entry["arm"])
    return Claim(reader.text(entry["claim"], f"{key}.claim"), arm, against, paper, float(min_effect), named)


def _parse_claims(reader: _Reader, value: Any, cells: list[Cell]) -> tuple[Claim, ...]:
    if not isinstance(value, list):
        raise reader.fail("claims", "expected a list of claims (- claim: ..., arm: ..., against: ...)")
    evaluated: dict[Arm, set[tuple[EvalTarget, ...]]] = {}
    for cell in cells:
        evaluated.setdefault(cell.arm, set()).add(cell.evaluation)
    return tuple(_parse_claim(reader, item, f"claims[{index}]", evaluated) for index, item in enumerate(value))


def config_from_mapping(values: Any, path: str | Path | None = None, text: str = "") -> ExperimentConfig:
    """An experiment from its parsed YAML mapping (see the module docstring)."""
    reader = _Reader(path)
    top = reader.mapping(values, "", TOP_KEYS)
    for required in ("evaluation", "labels", "grids"):
        if required not in top:
            raise reader.fail(required, "missing section")
    training = _parse_training(reader, top.get("training"))
    labels = {str(name): _parse_label_source(reader, str(name), spec)
              for name, spec in reader.mapping(top["labels"], "labels").items()}
    losses: dict[str, LossEntry] = {}
    grids_section = reader.mapping(top["grids"], "grids")
    if not grids_section:
        raise reader.fail("grids", "define at least one grid")
    grids = {str(name): _parse_grid(reader, str(name), grid, labels, training, losses)
             for name, grid in grids_section.items()}
    baseline = reader.text(top.get("baseline", "infonce"), "baseline")
    if baseline not in losses:
        raise reader.fail("baseline", f"the baseline '{baseline}' is not a loss of any grid "
                          f"({', '.join(losses)})")
    training.pop("batch_size", None)
    training.pop("max_steps", None)
    name = reader.text(top.get("name", Path(path).stem if path else "experiment"), "name")
    config = ExperimentConfig(name, reader.text(top.get("model", DEFAULT_MODEL), "model"), training,
                              _parse_evaluation(reader, top["evaluation"]), baseline, labels, grids, losses,
                              str(path) if path else None, text or yaml.safe_dump(top, sort_keys=False))
    if "claims" not in top:
        return config
    return dataclasses.replace(config, claims=_parse_claims(reader, top["claims"], config.cells()))


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an experiment file (YAML)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("experiment file not found", path=path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"cannot parse YAML: {error}", path=path) from None
    return config_from_mapping(values if values is not None else {}, path, path.read_text(encoding="utf-8"))


def shard_of(cells: list[Cell], shard: tuple[int, int]) -> list[Cell]:
    """Cells i-1, i-1+n, i-1+2n ... of the seed-major order: shares of similar cost."""
    index, count = shard
    return cells[index - 1::count]

