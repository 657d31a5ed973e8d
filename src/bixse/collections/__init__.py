"""Test collections: the data model, readers and writers for the field's formats, and the
embedded Cranfield default.

>>> from bixse.collections import load
>>> cranfield = load("cranfield")
>>> len(cranfield.query_ids("test"))
75
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bixse.collections.beir import load_beir, write_beir
from bixse.collections.cranfield import CLEVERDON_GRADE_TO_GAIN, load_cranfield
from bixse.collections.label_import import ExportedQrels, ImportedLabels, read_qrels_labels, write_labels_as_qrels
from bixse.collections.model import Collection, Document, Qrels, Run
from bixse.collections.trec import (
    load_trec_folder,
    read_trec_qrels,
    read_trec_run,
    write_trec_folder,
    write_trec_qrels,
    write_trec_run,
)
from bixse.collections.training_data import qrels_to_graded_pairs
from bixse.errors import InputError
from bixse.io import check_output_folder

EMBEDDED = {"cranfield": load_cranfield}


def load(name_or_path: str | Path, unknown_ids: Literal["error", "drop"] = "error") -> Collection:
    """Load an embedded collection by name (``cranfield``), or a BEIR or TREC folder by path."""
    if str(name_or_path) in EMBEDDED:
        return EMBEDDED[str(name_or_path)]()
    folder = Path(name_or_path)
    if not folder.is_dir():
        known = ", ".join(EMBEDDED)
        raise InputError(f"no such collection: not an embedded name ({known}) nor a folder", path=folder)
    if (folder / "corpus.jsonl").is_file():
        return load_beir(folder, unknown_ids)
    if (folder / "corpus.trec").is_file():
        return load_trec_folder(folder, unknown_ids)
    raise InputError("not a collection folder: expected corpus.jsonl (BEIR) or corpus.trec (TREC)", path=folder)


def export(collection: Collection, folder: str | Path, fmt: Literal["beir", "trec"] = "beir") -> Path:
    """Write ``collection`` to ``folder`` as BEIR or TREC; reading it back gives the same collection,
    but for a split's unjudged queries: both formats list a split by its judgements."""
    writers = {"beir": write_beir, "trec": write_trec_folder}
    if fmt not in writers:
        raise InputError(f"unknown format '{fmt}' (expected beir or trec)", field="format")
    check_output_folder(folder)
    _check_holds_no_collection(Path(folder))
    return writers[fmt](collection, folder)


# What ``load`` reads from a folder: an earlier export's files would outlive this one's (a stale
# ``corpus.jsonl`` wins over a new ``corpus.trec``; an old split's qrels reads as a split).
_COLLECTION_FILES = ("corpus.jsonl", "queries.jsonl", "corpus.trec", "topics.tsv", "qrels")


def _check_holds_no_collection(folder: Path) -> None:
    found = [name for name in _COLLECTION_FILES if (folder / name).exists()]
    if found:
        raise InputError(f"already holds a collection ({', '.join(found)}): export into a new or empty folder, "
                         "or remove it first", path=folder, field="output")


__all__ = [
    "CLEVERDON_GRADE_TO_GAIN", "Collection", "Document", "EMBEDDED", "ExportedQrels", "ImportedLabels", "InputError", "Qrels",
    "Run", "export", "load", "load_beir", "load_cranfield", "load_trec_folder", "qrels_to_graded_pairs",
    "read_qrels_labels", "read_trec_qrels", "read_trec_run", "write_beir", "write_trec_folder",
    "write_labels_as_qrels", "write_trec_qrels", "write_trec_run",
]
