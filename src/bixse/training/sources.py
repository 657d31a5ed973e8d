"""Where the training labels come from: a training file, or a collection split's human grades.

The result says what it holds (pairs or groups, counts, the labels' sources) so that the model
card can state it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bixse.collections import Collection, load
from bixse.collections.training_data import (
    TABLE_SUFFIXES,
    GradedPair,
    MultiPositiveGroup,
    hub_dataset_id,
    load_hub_dataset,
    qrels_to_graded_pairs,
    read_training_file,
)
from bixse.errors import InputError
from bixse.io import file_sha256, folder_sha256, iter_jsonl


@dataclass(frozen=True)
class TrainingLabels:
    """Labelled examples with a description of their origin."""

    examples: list[GradedPair] | list[MultiPositiveGroup]
    origin: str                      # "file <path>" or "collection cranfield, split train"
    label_sources: dict[str, int] = field(default_factory=dict)   # source -> number of labels

    @property
    def kind(self) -> str:
        return "multi-positive groups" if self.examples and isinstance(self.examples[0], MultiPositiveGroup) \
            else "graded pairs"

    @property
    def num_queries(self) -> int:
        return len({(e.query_id or e.query) for e in self.examples})


def is_layout_file(path: str | Path) -> bool:
    """True when the file already holds training rows (``query``, ``document_0``..., ``label``);
    such files are JSONL, so a CSV or Parquet file holds labels."""
    if Path(path).suffix in TABLE_SUFFIXES:
        return False
    for _, record in iter_jsonl(path):
        return "document_0" in record
    return False


def load_collection(name: str, field_name: str = "collection") -> Collection:
    try:
        return load(name)
    except InputError as error:
        raise InputError(error.message, path=error.path, field=field_name) from None


def load_labels(data: str | Path | None, collection: Collection, split: str = "train") -> TrainingLabels:
    """Read ``data`` (ids resolve against ``collection``), or take ``split``'s qrels when ``data`` is None."""
    if data is None:
        try:
            pairs = qrels_to_graded_pairs(collection, split)
        except KeyError:
            known = ", ".join(collection.split_names())
            raise InputError(f"collection '{collection.name}' has no split '{split}' (known: {known})",
                             field="split") from None
        if not pairs:
            raise InputError(f"split '{split}' of collection '{collection.name}' has no judgements", field="split")
        return TrainingLabels(pairs, f"collection {collection.name}, split {split} (qrels)",
                              {"human": len(pairs)})
    if (hub := hub_dataset_id(data)) is not None:
        examples = read_training_file(data, collection)
        return TrainingLabels(examples, f"hub dataset {hub[0]} (split {hub[1]})", _count_sources(examples))
    path = Path(data)
    if not path.exists():
        raise InputError("training file not found (nor a hub dataset id: org/name or org/name:split)",
                         path=path, field="data")
    examples = read_training_file(path, collection)
    return TrainingLabels(examples, f"file {path}", _count_sources(examples))


def data_fingerprint(data: str | Path | None, collection: Collection | None, split: str = "train") -> str:
    """The sha256 of what a run learns from: the bytes of the ``data`` file or, without one, the
    qrels of ``collection``'s ``split`` (query id, doc id, grade; in a canonical order)."""
    if data is not None and (hub := hub_dataset_id(data)) is not None:
        return load_hub_dataset(*hub)._fingerprint  # datasets' own hash of the loaded data and its origin
    if data is not None:
        return folder_sha256(data) if Path(data).is_dir() else file_sha256(data)
    assert collection is not None
    judged = {query_id: collection.qrels.get(query_id, {}) for query_id in collection.query_ids(split)}
    return hashlib.sha256(json.dumps(judged, sort_keys=True).encode()).hexdigest()


def _count_sources(examples: list[GradedPair] | list[MultiPositiveGroup]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for example in examples:
        if isinstance(example, GradedPair):
            counts[example.source or "unstated"] += 1
        else:
            counts["unstated"] += len(example.positives) + len(example.negatives)
    return dict(counts)
