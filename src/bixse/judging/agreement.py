"""How well a judge agrees with human grades on the same candidates.

Two views, because mined candidates are mostly unjudged by the humans:

- ``all_candidates``: every labelled candidate; an unjudged one counts as gain 0 (the TREC
  convention: unjudged = non-relevant). Closest to how the labels will be used, but it
  punishes a judge for finding relevant documents the assessors never saw.
- ``judged_only``: only candidates the humans graded. Unbiased by pooling, but small, and
  on collections whose qrels list mostly relevant documents nearly one class (Cranfield's
  judged gain-0 documents are its Cleverdon "-1, unclear" entries, not clean negatives).
- ``judged_relevant``: judged candidates with gain >= threshold: does the judge order the
  relevance levels (Kendall tau only; one class, so no AUC)?

Figures, each on labelled pairs only (pairs the judge skipped are counted, not scored):

- ``auc``: P(score of a relevant pair > score of a non-relevant one), ties counting 1/2
  (Mann-Whitney U / (n_rel * n_nonrel)), pooled over queries; relevant = gain >= threshold.
- ``auc_per_query_mean``: the same within each query, averaged over queries having both
  classes: what matters for ranking, since it ignores per-query score offsets.
- ``kendall_tau_b``: Kendall's tau-b (ties corrected; scipy) between scores and gains.
- ``histogram``: score counts in equal-width bins over [0, 1], split by relevance.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bixse.collections.model import Qrels
from bixse.errors import InputError
from bixse.mining.candidates import Candidate


@dataclass(frozen=True)
class AgreementView:
    name: str
    pairs: int
    relevant: int
    non_relevant: int
    auc: float | None
    auc_per_query_mean: float | None
    queries_with_both_classes: int
    kendall_tau_b: float | None
    kendall_p_value: float | None
    mean_score_by_gain: dict[int, float]
    histogram: dict[str, list[float] | list[int]]


@dataclass(frozen=True)
class AgreementReport:
    judge: str
    relevance_threshold: int
    labelled: int
    unlabelled: int
    views: dict[str, AgreementView]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roc_auc(scores: Sequence[float], relevant: Sequence[bool]) -> float | None:
    """Mann-Whitney AUC with average ranks for ties; ``None`` when a class is empty."""
    from scipy.stats import rankdata

    labels = np.asarray(relevant, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _finite_or_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _view(name: str, rows: list[tuple[str, float, int]], threshold: int, bins: int) -> AgreementView:
    from scipy.stats import kendalltau

    scores = [score for _, score, _ in rows]
    gains = [gain for _, _, gain in rows]
    relevant = [gain >= threshold for gain in gains]
    by_query: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for (query_id, score, _), is_relevant in zip(rows, relevant):
        by_query[query_id].append((score, is_relevant))
    per_query = [auc for members in by_query.values()
                 if (auc := roc_auc([s for s, _ in members], [r for _, r in members])) is not None]
    tau, p_value = (kendalltau(scores, gains) if len(set(gains)) > 1 and len(set(scores)) > 1
                    else (float("nan"), float("nan")))
    by_gain: dict[int, list[float]] = defaultdict(list)
    for score, gain in zip(scores, gains):
        by_gain[gain].append(score)
    edges = np.linspace(0.0, 1.0, bins + 1)
    array, mask = np.asarray(scores, dtype=float), np.asarray(relevant, dtype=bool)
    # floor(score * bins), not np.histogram: its float edges put a score of exactly 0.3 in [0.2, 0.3).
    bin_index = np.clip(np.floor(array * bins).astype(int), 0, bins - 1)
    return AgreementView(
        name=name, pairs=len(rows), relevant=int(mask.sum()), non_relevant=int((~mask).sum()),
        auc=roc_auc(scores, relevant),
        auc_per_query_mean=float(np.mean(per_query)) if per_query else None,
        queries_with_both_classes=len(per_query),
        kendall_tau_b=_finite_or_none(tau), kendall_p_value=_finite_or_none(p_value),
        mean_score_by_gain={gain: float(np.mean(values)) for gain, values in sorted(by_gain.items())},
        histogram={"edges": [round(float(e), 6) for e in edges],
                   "relevant": np.bincount(bin_index[mask], minlength=bins).tolist(),
                   "non_relevant": np.bincount(bin_index[~mask], minlength=bins).tolist()},
    )


def agreement_report(candidates: Sequence[Candidate], scores: Sequence[float | None], qrels: Qrels, *,
                     judge: str = "judge", relevance_threshold: int = 1, bins: int = 10) -> AgreementReport:
    """Agreement of ``scores`` (aligned with ``candidates``; ``None`` = unlabelled) with ``qrels``.

    Example::

        report = agreement_report(candidates, result.labels.scores, cranfield.qrels, judge=judge.source)
        report.views["all_candidates"].auc
    """
    if len(scores) != len(candidates):
        raise InputError(f"{len(scores)} scores for {len(candidates)} candidates", field="scores")
    if not any(qrels.get(c.query_id) for c in candidates):
        raise InputError("no candidate's query has human judgements: nothing to agree with", field="qrels")
    if bins < 1:
        raise InputError("need at least one histogram bin", field="bins")
    all_rows, judged_rows = [], []
    for candidate, score in zip(candidates, scores):
        if score is None:
            continue
        judged = qrels.get(candidate.query_id, {})
        gain = judged.get(candidate.doc_id, 0)
        all_rows.append((candidate.query_id, float(score), gain))
        if candidate.doc_id in judged:
            judged_rows.append((candidate.query_id, float(score), gain))
    judged_relevant = [row for row in judged_rows if row[2] >= relevance_threshold]
    views = {"all_candidates": _view("all_candidates", all_rows, relevance_threshold, bins),
             "judged_only": _view("judged_only", judged_rows, relevance_threshold, bins),
             "judged_relevant": _view("judged_relevant", judged_relevant, relevance_threshold, bins)}
    return AgreementReport(judge=judge, relevance_threshold=relevance_threshold, labelled=len(all_rows),
                           unlabelled=len(candidates) - len(all_rows), views=views)


def format_histogram(view: AgreementView, width: int = 30) -> list[str]:
    """Text bars, one line per bin: ``[0.3, 0.4)  rel ####  non-rel ######``."""
    edges, rel, non = view.histogram["edges"], view.histogram["relevant"], view.histogram["non_relevant"]
    top = max([*rel, *non, 1])
    lines = []
    for i in range(len(rel)):
        bar_rel = "#" * round(width * int(rel[i]) / top)
        bar_non = "-" * round(width * int(non[i]) / top)
        lines.append(f"[{edges[i]:.1f}, {edges[i + 1]:.1f}{']' if i == len(rel) - 1 else ')'} "
                     f"rel {int(rel[i]):5d} {bar_rel:<{width}} non-rel {int(non[i]):5d} {bar_non}")
    return lines


def summary_rows(report: AgreementReport) -> list[Mapping[str, Any]]:
    """Flat rows (one per view) for a table."""
    return [{"view": v.name, "pairs": v.pairs, "relevant": v.relevant, "non_relevant": v.non_relevant,
             "auc": v.auc, "auc_per_query_mean": v.auc_per_query_mean, "kendall_tau_b": v.kendall_tau_b}
            for v in report.views.values()]
