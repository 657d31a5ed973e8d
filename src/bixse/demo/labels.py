"""The demo's training data: mined candidates, labelled once by people and once by a judge.

Both label sets cover exactly the same (query, document) pairs, so a difference between the
models trained on them is a difference of labels, not of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bixse.collections.model import Collection
from bixse.collections.training_data import GradedPair, human_grades_of_pairs, write_training_file
from bixse.judging import LabelCache, get_judge, graded_pairs, judge_candidates
from bixse.mining import Candidate, mine_candidates
from bixse.progress import progress_bar


def mine_training_candidates(collection: Collection, miner: str, per_query: int,
                             max_queries: int | None = None) -> list[Candidate]:
    """The top ``per_query`` documents of ``miner`` for the first ``max_queries`` train queries."""
    candidates = mine_candidates(collection, "train", miner, top_k=per_query)
    if max_queries is None:
        return candidates
    kept = set(collection.query_ids("train")[:max_queries])
    return [candidate for candidate in candidates if candidate.query_id in kept]


def human_labels(collection: Collection, candidates: Sequence[Candidate]) -> list[GradedPair]:
    """Each candidate's human grade as a probability, gain / max gain; an unjudged pair is 0."""
    return human_grades_of_pairs(collection, ((c.query_id, c.doc_id) for c in candidates))


def judge_labels(candidates: Sequence[Candidate], judge_kind: str, judge_options: dict,
                 cache_path: Path) -> tuple[list[GradedPair], int]:
    """The judge's graded scores for ``candidates`` through the durable label cache.

    Returns the pairs and the number of judge calls this run made (0 on a rerun).
    """
    judge = get_judge(judge_kind, **judge_options)
    with LabelCache(cache_path) as cache, progress_bar(len(candidates), "judging", unit="pairs") as advance:
        labels = judge_candidates(candidates, judge, cache, progress=advance)
    return graded_pairs(candidates, labels.judgements, judge.source), labels.stats.judged


def write_label_file(path: Path, pairs: Sequence[GradedPair]) -> Path:
    write_training_file(path, pairs)
    return path
