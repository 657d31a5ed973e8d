"""Labelling through the cache: ask the judge only for pairs the cache lacks, batch by batch,
committing each batch as it completes; then export labels as graded training pairs.

A run killed at any moment resumes where it stopped: the committed batches are cache hits on
the rerun, and at most the one batch in flight is asked again. A rerun with everything cached
makes no model call (and, as judges load lazily, loads no model).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bixse.collections.model import Collection
from bixse.collections.training_data import GradedPair, write_training_file
from bixse.errors import InputError
from bixse.judging.base import Judge, Judgement, JudgeError, Pair, Skipped
from bixse.judging.cache import LabelCache, TextKey
from bixse.judging.identity import text_sha256
from bixse.judging.shards import Shard, select_shard
from bixse.mining.candidates import Candidate, read_candidates

Progress = Callable[[int], None]


@dataclass
class LabelingStats:
    """What a labelling run did: ``pairs`` asked, ``unique`` distinct texts among them,
    ``cached`` found in the cache, ``judged`` newly labelled, ``skipped`` by reason."""

    pairs: int = 0
    unique: int = 0
    cached: int = 0
    judged: int = 0
    batches: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def labelled(self) -> int:
        return self.cached + self.judged


@dataclass
class LabelingResult:
    judgements: list[Judgement | None]  # aligned with the input; None = skipped
    stats: LabelingStats

    @property
    def scores(self) -> list[float | None]:
        return [None if judgement is None else judgement.score for judgement in self.judgements]


def pair_key(query: str, document: str) -> TextKey:
    return text_sha256(query), text_sha256(document)


def label_pairs(judge: Judge, pairs: Sequence[Pair], cache: LabelCache | None = None, *,
                batch_size: int | None = None, progress: Progress | None = None) -> LabelingResult:
    """Judgements for ``pairs`` (same order), from ``cache`` where present, else from ``judge``.

    Every completed batch is committed to ``cache`` before the next one starts, and each batch
    is looked up again just before the judge is asked, so runs sharing a cache share the work
    (a pair another run stored meanwhile counts as cached). When the judge fails for good
    (``JudgeError``), the finished part of the batch is committed first and the error re-raised.
    ``progress(n)`` is called with the number of pairs settled.

    Example::

        with LabelCache("labels.sqlite") as cache:
            scores = label_pairs(BiEncoderJudge("all-MiniLM-L6-v2"), [("q", "d")], cache).scores
    """
    for index, (query, document) in enumerate(pairs):
        if not isinstance(query, str) or not query.strip() or not isinstance(document, str) or not document.strip():
            raise InputError(f"pair {index} has an empty query or document", field="pairs")
    batch_size = judge.default_batch_size if batch_size is None else batch_size
    if batch_size < 1:
        raise InputError(f"batch size must be positive, got {batch_size}", field="batch_size")
    keys = [pair_key(query, document) for query, document in pairs]
    texts: dict[TextKey, Pair] = {}
    for key, pair in zip(keys, pairs):
        texts.setdefault(key, pair)
    stats = LabelingStats(pairs=len(pairs), unique=len(texts))
    found: dict[TextKey, Judgement] = {}
    if cache is not None:
        cache.register(judge)
        found = cache.get_many(judge, texts)
    stats.cached = len(found)
    if progress and found:
        progress(len(found))
    todo = [key for key in texts if key not in found]
    # Another run on the same cache may be judging these pairs now: each batch is checked again
    # just before the judge is asked (see ``LabelCache.claim``). Pairs that run has claimed wait
    # for the end; by then it has stored them, and only what it has not is judged here.
    deferred: list[TextKey] = []
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        if cache is not None:
            stored, taken = cache.claim(judge, batch)
            deferred += taken
            batch = [key for key in batch if key not in stored and key not in taken]
            _count_cached(stored, found, stats, progress)
        _judge_batch(judge, cache, batch, texts, found, stats, progress)
    for start in range(0, len(deferred), batch_size):
        batch = deferred[start:start + batch_size]
        assert cache is not None
        stored = cache.get_many(judge, batch)
        _count_cached(stored, found, stats, progress)
        _judge_batch(judge, cache, [key for key in batch if key not in stored], texts, found, stats, progress)
    return LabelingResult([found.get(key) for key in keys], stats)


def _count_cached(stored: dict[TextKey, Judgement], found: dict[TextKey, Judgement], stats: LabelingStats,
                  progress: Progress | None) -> None:
    found.update(stored)
    stats.cached += len(stored)
    if progress and stored:
        progress(len(stored))


def _judge_batch(judge: Judge, cache: LabelCache | None, batch: Sequence[TextKey], texts: dict[TextKey, Pair],
                 found: dict[TextKey, Judgement], stats: LabelingStats, progress: Progress | None) -> None:
    if not batch:
        return
    try:
        results = judge.judge([texts[key] for key in batch])
    except JudgeError as error:
        stored = _store(judge, cache, batch, error.partial or [], found, stats)
        where = f" in {cache.path}" if cache is not None else ""
        raise JudgeError(f"{error}; {stats.judged} labels of this run are stored{where} "
                         f"({stored} from the failing batch): rerun the same command to resume") from error
    if len(results) != len(batch):
        raise RuntimeError(f"judge {judge.kind} returned {len(results)} results for {len(batch)} pairs")
    _store(judge, cache, batch, results, found, stats)
    stats.batches += 1
    if progress:
        progress(len(batch))


def _store(judge: Judge, cache: LabelCache | None, batch: Sequence[TextKey],
           results: Sequence[Judgement | Skipped | None], found: dict[TextKey, Judgement],
           stats: LabelingStats) -> int:
    """Commit a batch's judgements; count its skips. Returns the number stored."""
    made = [(key, result) for key, result in zip(batch, results) if isinstance(result, Judgement)]
    for result in results:
        if isinstance(result, Skipped):
            stats.skipped[result.reason] += 1
    if cache is not None:
        cache.put_many(judge, made)
    found.update(made)
    stats.judged += len(made)
    return len(made)


def first_queries(candidates: Sequence[Candidate], max_queries: int | None) -> list[Candidate]:
    """The candidates of the first ``max_queries`` distinct queries, in file order."""
    if max_queries is None:
        return list(candidates)
    if max_queries < 1:
        raise InputError(f"max queries must be positive, got {max_queries}", field="max_queries")
    kept: dict[str, None] = {}
    selected = []
    for candidate in candidates:
        if candidate.query_id not in kept:
            if len(kept) == max_queries:
                continue
            kept[candidate.query_id] = None
        selected.append(candidate)
    return selected


def judge_candidates(candidates: Sequence[Candidate], judge: Judge, cache: LabelCache | None = None, *,
                     batch_size: int | None = None, progress: Progress | None = None) -> LabelingResult:
    """``label_pairs`` over candidates (their texts must be filled in: see ``read_candidates``).

    A judge with ``by_ids`` (a qrels file) is asked by (query id, document id) instead, and
    nothing is cached: its labels are on disk already.
    """
    if judge.by_ids:
        return _judge_by_ids(candidates, judge, batch_size=batch_size, progress=progress)
    missing = [c for c in candidates if not c.has_texts]
    if missing:
        raise InputError(f"candidate ({missing[0].query_id}, {missing[0].doc_id}) has no texts: "
                         "read the file with a collection", field="candidates")
    pairs = [(c.query, c.document) for c in candidates]
    return label_pairs(judge, pairs, cache, batch_size=batch_size, progress=progress)  # type: ignore[arg-type]


def _judge_by_ids(candidates: Sequence[Candidate], judge: Judge, *, batch_size: int | None,
                  progress: Progress | None) -> LabelingResult:
    batch_size = judge.default_batch_size if batch_size is None else batch_size
    if batch_size < 1:
        raise InputError(f"batch size must be positive, got {batch_size}", field="batch_size")
    ids = [(c.query_id, c.doc_id) for c in candidates]
    stats = LabelingStats(pairs=len(ids), unique=len(set(ids)))
    judgements: list[Judgement | None] = []
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        results = judge.judge_ids(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"judge {judge.kind} returned {len(results)} results for {len(batch)} pairs")
        for result in results:
            if isinstance(result, Skipped):
                stats.skipped[result.reason] += 1
        judgements.extend(result if isinstance(result, Judgement) else None for result in results)
        stats.judged += sum(isinstance(result, Judgement) for result in results)
        stats.batches += 1
        if progress:
            progress(len(batch))
    return LabelingResult(judgements, stats)


def graded_pairs(candidates: Sequence[Candidate], judgements: Sequence[Judgement | None],
                 source: str) -> list[GradedPair]:
    """The labelled candidates as graded training pairs (unlabelled ones left out).

    ``grade`` is the most probable grade for a graded LLM judge, absent otherwise.
    """
    return [GradedPair(query=c.query or "", document=c.document or "", score=j.score, query_id=c.query_id,
                       doc_id=c.doc_id, grade=j.grade, source=source)
            for c, j in zip(candidates, judgements) if j is not None]


@dataclass
class JudgeFileResult:
    candidates: list[Candidate]
    labels: LabelingResult
    exported: int = 0
    output: Path | None = None


def judge_file(candidates_path: str | Path | Sequence[Candidate], judge: Judge, cache_path: str | Path, *,
               collection: Collection | None = None, output: str | Path | None = None,
               batch_size: int | None = None, max_queries: int | None = None, shard: Shard | None = None,
               progress: Progress | None = None, on_start: Callable[[int], None] | None = None) -> JudgeFileResult:
    """What ``bixse judge`` does: read and validate the candidates, label them through the
    cache at ``cache_path``, and (with ``output``) write the labelled ones as graded pairs
    (``source`` = ``llm:<name>`` or ``teacher:<name>``). ``on_start(n)`` gets the pair count.
    Candidates already read (e.g. ``read_run_candidates`` of a TREC run) may be passed instead
    of the file.

    ``shard=(i, n)`` keeps only the i-th of n disjoint shares of the pairs (after
    ``max_queries``; see ``bixse.judging.shards``): give each shard its own ``cache_path`` and
    join them with ``merge_caches``. A ``by_ids`` judge (a qrels file) opens no cache."""
    given = read_candidates(candidates_path, collection) if isinstance(candidates_path, (str, Path)) \
        else candidates_path
    candidates = select_shard(first_queries(given, max_queries), shard)
    if on_start:
        on_start(len(candidates))
    if judge.by_ids:
        labels = judge_candidates(candidates, judge, batch_size=batch_size, progress=progress)
    else:
        with LabelCache(cache_path) as cache:
            labels = judge_candidates(candidates, judge, cache, batch_size=batch_size, progress=progress)
    result = JudgeFileResult(candidates, labels)
    if output is not None:
        result.exported = write_training_file(output, graded_pairs(candidates, labels.judgements, judge.source))
        result.output = Path(output)
    return result
