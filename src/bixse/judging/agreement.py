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
- ``kappa_graded``: unweighted Cohen's kappa between the judge's grades and the human grades
  on the human scale 0..G (the LLMJudge benchmark's kappa, Rahmani et al., arXiv 2502.13908):
  ``(p_o - p_e) / (1 - p_e)``, ``p_o`` the share of equal grades, ``p_e`` the share expected by
  chance from the two grade distributions (scikit-learn's ``cohen_kappa_score``). Human gains
  outside 0..G are clipped into it. ``None`` where undefined (both raters constant).
- ``kappa_binary``: the same on relevant / not, both sides relevant when grade >=
  ``kappa_threshold`` (2 by default, the LLMJudge README's kappa-2, "01|23"; 1 on binary qrels).
  This threshold is separate from ``relevance_threshold``, which splits the classes of the AUCs.
- ``confusion``: counts, human grade (rows) by judge grade (columns), 0..G.
- ``calibration``: per human grade, the count, mean judge score and its sample standard
  deviation (n - 1; ``None`` for one pair): is a grade-2 pair scored above a grade-1 one, and
  how far apart are the levels against their spread?

The judge's grade of a pair (``judge_grade``): the most probable grade when its judgement is a
distribution over exactly G + 1 grades (an LLM judge or qrels file on the human scale; a 1-4
scale such as BiXSE's maps 1..4 to 0..3 by position), else its score on the human scale,
rounded: ``floor(score * G + 0.5)``.
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
from bixse.judging.base import Judgement
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
    kappa_graded: float | None = None
    kappa_binary: float | None = None
    confusion: list[list[int]] | None = None
    calibration: dict[int, dict[str, float | int | None]] | None = None


@dataclass(frozen=True)
class AgreementReport:
    judge: str
    relevance_threshold: int
    labelled: int
    unlabelled: int
    views: dict[str, AgreementView]
    max_grade: int | None = None
    kappa_threshold: int | None = None

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


def cohen_kappa(grades_a: Sequence[int], grades_b: Sequence[int], labels: Sequence[int]) -> float | None:
    """Unweighted Cohen's kappa over ``labels`` (scikit-learn); ``None`` when undefined (no
    pairs, or chance agreement 1: both raters constant on one label)."""
    import warnings

    from sklearn.metrics import cohen_kappa_score

    if not grades_a:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns before returning the undefined value
        value = cohen_kappa_score(list(grades_a), list(grades_b), labels=list(labels), replace_undefined_by=np.nan)
    return _finite_or_none(float(value))


def top_grade(qrels: Qrels) -> int:
    """The highest human grade in ``qrels`` (the scale's top for the kappas)."""
    return max((gain for judged in qrels.values() for gain in judged.values()), default=1)


def rounded_grade(score: float, max_grade: int) -> int:
    """A score in [0, 1] on the grade scale 0..``max_grade``, rounded half up."""
    return min(max_grade, max(0, math.floor(score * max_grade + 0.5)))


def judge_grade(judgement: Judgement, max_grade: int) -> int:
    """The judge's grade of a pair on the human scale 0..``max_grade`` (see the module docstring)."""
    distribution = judgement.distribution
    if distribution and len(distribution) == max_grade + 1 and all(label.isdigit() for label in distribution):
        ordered = sorted(distribution, key=int)
        return ordered.index(max(ordered, key=lambda label: distribution[label]))
    return rounded_grade(judgement.score, max_grade)


def judge_grades(judgements: Sequence[Judgement | None], max_grade: int) -> list[int | None]:
    return [None if judgement is None else judge_grade(judgement, max_grade) for judgement in judgements]


def _calibration(scores: Sequence[float], gains: Sequence[int]) -> dict[int, dict[str, float | int | None]]:
    by_gain: dict[int, list[float]] = defaultdict(list)
    for score, gain in zip(scores, gains):
        by_gain[gain].append(score)
    return {gain: {"count": len(values), "mean_score": float(np.mean(values)),
                   "sd_score": float(np.std(values, ddof=1)) if len(values) > 1 else None}
            for gain, values in sorted(by_gain.items())}


def _kappas(grades: Sequence[int], gains: Sequence[int], max_grade: int,
            threshold: int) -> tuple[float | None, float | None, list[list[int]]]:
    human = [min(max(gain, 0), max_grade) for gain in gains]
    confusion = np.zeros((max_grade + 1, max_grade + 1), dtype=int)
    for h, j in zip(human, grades):
        confusion[h, j] += 1
    graded = cohen_kappa(human, grades, range(max_grade + 1))
    binary = cohen_kappa([h >= threshold for h in human], [j >= threshold for j in grades], [False, True])
    return graded, binary, confusion.tolist()


Row = tuple[str, float, int, "int | None"]  # (query id, score, human gain, judge grade)


def _view(name: str, rows: list[Row], threshold: int, bins: int, max_grade: int | None = None,
          kappa_threshold: int = 2) -> AgreementView:
    from scipy.stats import kendalltau

    scores = [row[1] for row in rows]
    gains = [row[2] for row in rows]
    relevant = [gain >= threshold for gain in gains]
    by_query: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for (query_id, score, _, _), is_relevant in zip(rows, relevant):
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
    kappa_graded = kappa_binary = confusion = None
    if max_grade is not None:
        graded_rows = [(row[3], row[2]) for row in rows if row[3] is not None]
        kappa_graded, kappa_binary, confusion = _kappas([j for j, _ in graded_rows], [g for _, g in graded_rows],
                                                        max_grade, kappa_threshold)
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
        kappa_graded=kappa_graded, kappa_binary=kappa_binary, confusion=confusion,
        calibration=_calibration(scores, gains),
    )


def agreement_report(candidates: Sequence[Candidate], scores: Sequence[float | None], qrels: Qrels, *,
                     judge: str = "judge", relevance_threshold: int = 1, bins: int = 10,
                     grades: Sequence[int | None] | None = None, max_grade: int | None = None,
                     kappa_threshold: int | None = None) -> AgreementReport:
    """Agreement of ``scores`` (aligned with ``candidates``; ``None`` = unlabelled) with ``qrels``.

    ``grades`` are the judge's grades on the human scale 0..``max_grade`` (``judge_grades`` of
    its judgements); default: each score rounded onto it. ``max_grade`` defaults to the top
    grade of ``qrels``. ``kappa_threshold`` is the binary kappa's relevance threshold (default 2,
    or 1 when the human scale is binary).

    Example::

        report = agreement_report(candidates, result.labels.scores, cranfield.qrels, judge=judge.source,
                                  grades=judge_grades(result.labels.judgements, top_grade(cranfield.qrels)))
        report.views["all_candidates"].auc, report.views["judged_only"].kappa_graded
    """
    if len(scores) != len(candidates):
        raise InputError(f"{len(scores)} scores for {len(candidates)} candidates", field="scores")
    if grades is not None and len(grades) != len(candidates):
        raise InputError(f"{len(grades)} grades for {len(candidates)} candidates", field="grades")
    if not any(qrels.get(c.query_id) for c in candidates):
        raise InputError("no candidate's query has human judgements: nothing to agree with", field="qrels")
    if bins < 1:
        raise InputError("need at least one histogram bin", field="bins")
    max_grade = top_grade(qrels) if max_grade is None else max_grade
    if max_grade < 1:
        raise InputError(f"the human scale's top grade must be at least 1, got {max_grade}", field="max_grade")
    kappa_threshold = min(2, max_grade) if kappa_threshold is None else kappa_threshold
    if not 1 <= kappa_threshold <= max_grade:
        raise InputError(f"the binary kappa's threshold must be in 1..{max_grade}, got {kappa_threshold}",
                         field="kappa_threshold")
    all_rows: list[Row] = []
    judged_rows: list[Row] = []
    for index, (candidate, score) in enumerate(zip(candidates, scores)):
        if score is None:
            continue
        if grades is None:
            grade: int | None = rounded_grade(float(score), max_grade)
        else:
            grade = grades[index]
            if grade is not None and not 0 <= grade <= max_grade:
                raise InputError(f"judge grade {grade} of candidate {index} is outside 0..{max_grade}", field="grades")
        judged = qrels.get(candidate.query_id, {})
        gain = judged.get(candidate.doc_id, 0)
        all_rows.append((candidate.query_id, float(score), gain, grade))
        if candidate.doc_id in judged:
            judged_rows.append((candidate.query_id, float(score), gain, grade))
    judged_relevant = [row for row in judged_rows if row[2] >= relevance_threshold]
    options = {"threshold": relevance_threshold, "bins": bins, "max_grade": max_grade,
               "kappa_threshold": kappa_threshold}
    views = {"all_candidates": _view("all_candidates", all_rows, **options),
             "judged_only": _view("judged_only", judged_rows, **options),
             "judged_relevant": _view("judged_relevant", judged_relevant, **options)}
    return AgreementReport(judge=judge, relevance_threshold=relevance_threshold, labelled=len(all_rows),
                           unlabelled=len(candidates) - len(all_rows), views=views, max_grade=max_grade,
                           kappa_threshold=kappa_threshold)


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
             "auc": v.auc, "auc_per_query_mean": v.auc_per_query_mean, "kendall_tau_b": v.kendall_tau_b,
             "kappa_graded": v.kappa_graded, "kappa_binary": v.kappa_binary}
            for v in report.views.values()]
