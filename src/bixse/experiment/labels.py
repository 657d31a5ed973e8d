"""A cell's training labels: its label source read (or mined and judged) once, then transformed.

The source's pairs are the same for every cell that names it, and a transform at a given seed
changes them the same way for every loss, so two cells that differ only in their loss train on
identical labels: their difference is the loss's.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bixse.collections import Collection
from bixse.collections.training_data import GradedPair, human_grades_of_pairs, qrels_to_graded_pairs, read_graded_pairs
from bixse.errors import InputError
from bixse.experiment.config import LabelSource, Transform


def source_pairs(source: LabelSource, collection: Collection, cache_path: Path | None = None,
                 judge_now: bool = True) -> list[GradedPair]:
    """The graded pairs of ``source`` (ids resolved against ``collection``).

    A ``judge`` source is mined and judged through the label cache at ``cache_path`` (so a rerun
    costs no judge call); with ``judge_now=False`` it is only checked (judge kind and options).
    """
    key = f"labels.{source.name}"
    if source.kind == "qrels":
        from bixse.collections import read_qrels_labels

        if not Path(source.path).is_file():
            raise InputError("qrels file not found", path=source.path, field=f"{key}.qrels")
        return read_qrels_labels(source.path, collection, source.max_grade, source=source.name).pairs
    if source.kind == "file":
        if not Path(source.path).is_file():
            raise InputError("training file not found", path=source.path, field=f"{key}.file")
        return read_graded_pairs(source.path, collection)
    check_split(collection, source.split, f"{key}.split")
    if source.kind == "collection" and source.candidates is None:
        pairs = qrels_to_graded_pairs(collection, source.split)
        if not pairs:
            raise InputError(f"split '{source.split}' of '{collection.name}' has no judgements", field=f"{key}.split")
        return pairs
    if source.kind == "judge" and not judge_now:
        _judge(source)  # checks the kind and options; mining and judging wait for the run
        return []
    candidates = _mine(source, collection)
    if source.kind == "collection":
        return human_grades_of_pairs(collection, ((c.query_id, c.doc_id) for c in candidates))
    return _judged(source, candidates, cache_path)


def check_split(collection: Collection, split: str, key: str) -> None:
    if split not in collection.split_names():
        raise InputError(f"collection '{collection.name}' has no split '{split}' (known: "
                         f"{', '.join(collection.split_names())})", field=key)


def _mine(source: LabelSource, collection: Collection) -> list:
    from bixse.mining import mine_candidates

    assert source.candidates is not None
    return mine_candidates(collection, source.split, source.candidates.retriever, top_k=source.candidates.top_k,
                           show_progress=False)


def _judge(source: LabelSource) -> object:
    from bixse.judging import get_judge

    return get_judge(source.judge or "", **dict(source.judge_options))


def _judged(source: LabelSource, candidates: list, cache_path: Path | None) -> list[GradedPair]:
    from bixse.judging import LabelCache, graded_pairs, judge_candidates
    from bixse.progress import progress_bar

    judge = _judge(source)
    assert cache_path is not None
    with LabelCache(cache_path) as cache, progress_bar(len(candidates), f"judging ({source.name})",
                                                       unit="pairs") as advance:
        labels = judge_candidates(candidates, judge, cache, progress=advance)
    return graded_pairs(candidates, labels.judgements, judge.source)


def transformed(pairs: Sequence[GradedPair], transform: Transform, seed: int) -> list[GradedPair]:
    """``pairs`` after ``transform``; a flip draws its coin per pair from (seed, p) alone."""
    if transform.kind == "none":
        return list(pairs)
    value = float(transform.value)
    if transform.kind == "flip":
        rng = np.random.default_rng([seed, zlib.crc32(f"flip{value!r}".encode())])
        flips = rng.random(len(pairs)) < value
        return [replace(pair, score=1.0 - pair.score, grade=None, source=f"{pair.source or 'label'}+flip")
                if flip else pair for pair, flip in zip(pairs, flips)]
    if transform.kind == "cutoff":
        return [pair for pair in pairs if pair.score >= value]
    if transform.kind == "binarize":
        return [replace(pair, score=float(pair.score >= value)) for pair in pairs]
    raise InputError(f"unknown transform '{transform.kind}'", field="transform")


def positive_threshold(transform: Transform, default: float) -> float:
    """Under a cutoff every kept pair is a positive (the paper's filtered InfoNCE); else ``default``."""
    return float(transform.value) if transform.kind == "cutoff" else default
