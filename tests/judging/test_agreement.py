"""The agreement report on a toy set whose AUC, Kendall tau-b and histogram are counted by hand."""

from __future__ import annotations

import math

import pytest

from bixse.errors import InputError
from bixse.judging import agreement_report, roc_auc
from bixse.mining import Candidate

# Query 1: a b c d, query 2: e f g; g is unlabelled (the judge skipped it).
CANDIDATES = [Candidate(q, d, r, 0.0) for q, d, r in
              [("1", "a", 1), ("1", "b", 2), ("1", "c", 3), ("1", "d", 4), ("2", "e", 1), ("2", "f", 2), ("2", "g", 3)]]
SCORES = [0.9, 0.6, 0.55, 0.5, 0.3, 0.3, None]
# Gains; d and f are unjudged (gain 0 in the all-candidates view), b is judged non-relevant.
QRELS = {"1": {"a": 3, "b": 0, "c": 1}, "2": {"e": 2, "x": 4}}


def kendall_tau_b_by_hand(xs: list[float], ys: list[int]) -> float:
    """(C - D) / sqrt((n0 - n1) (n0 - n2)): n1, n2 = pairs tied in x, in y."""
    concordant = discordant = tied_x = tied_y = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            tied_x += dx == 0
            tied_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    n0 = len(xs) * (len(xs) - 1) // 2
    return (concordant - discordant) / math.sqrt((n0 - tied_x) * (n0 - tied_y))


def test_all_candidates_view() -> None:
    report = agreement_report(CANDIDATES, SCORES, QRELS, judge="toy", relevance_threshold=1)
    assert (report.labelled, report.unlabelled, report.judge) == (6, 1, "toy")
    view = report.views["all_candidates"]
    assert (view.pairs, view.relevant, view.non_relevant) == (6, 3, 3)
    # Relevant a .9, c .55, e .3 vs non-relevant b .6, d .5, f .3:
    # a beats 3, c beats d and f (2), e ties f (0.5) -> 5.5 of 9.
    assert view.auc == pytest.approx(5.5 / 9)
    # Per query: q1 {a, c} vs {b, d}: 3 of 4; q2 e vs f: a tie, 0.5.
    assert view.auc_per_query_mean == pytest.approx((0.75 + 0.5) / 2)
    assert view.queries_with_both_classes == 2
    # Counted pair by pair: 7 concordant, 4 discordant, 1 pair tied in score, 3 tied in gain.
    assert view.kendall_tau_b == pytest.approx(3 / math.sqrt(14 * 12))
    assert view.kendall_tau_b == pytest.approx(kendall_tau_b_by_hand([0.9, 0.6, 0.55, 0.5, 0.3, 0.3], [3, 0, 1, 0, 2, 0]))
    assert view.mean_score_by_gain == pytest.approx({0: (0.6 + 0.5 + 0.3) / 3, 1: 0.55, 2: 0.3, 3: 0.9})
    # 0.3 sits in [0.3, 0.4): bin 3, not 2 (a float-edge trap).
    assert view.histogram["relevant"] == [0, 0, 0, 1, 0, 1, 0, 0, 0, 1]
    assert view.histogram["non_relevant"] == [0, 0, 0, 1, 0, 1, 1, 0, 0, 0]
    assert view.histogram["edges"][:3] == [0.0, 0.1, 0.2]


def test_judged_views() -> None:
    report = agreement_report(CANDIDATES, SCORES, QRELS, relevance_threshold=1)
    judged = report.views["judged_only"]
    assert (judged.pairs, judged.relevant, judged.non_relevant) == (4, 3, 1)
    assert judged.auc == pytest.approx(1 / 3), "only a beats b"
    assert judged.auc_per_query_mean == pytest.approx(0.5) and judged.queries_with_both_classes == 1
    assert judged.kendall_tau_b == pytest.approx(0.0), "3 concordant, 3 discordant"
    relevant_only = report.views["judged_relevant"]
    assert relevant_only.auc is None and relevant_only.pairs == 3
    assert relevant_only.kendall_tau_b == pytest.approx(1 / 3), "a-c, a-e concordant; c-e discordant"


def test_threshold_moves_the_relevant_class() -> None:
    view = agreement_report(CANDIDATES, SCORES, QRELS, relevance_threshold=2).views["all_candidates"]
    # Relevant a .9, e .3 vs b .6, c .55, d .5, f .3: a beats 4, e ties f -> 4.5 of 8.
    assert (view.relevant, view.auc) == (2, pytest.approx(4.5 / 8))


def test_roc_auc_edge_cases() -> None:
    assert roc_auc([0.2, 0.8], [False, True]) == 1.0
    assert roc_auc([0.5, 0.5], [False, True]) == 0.5
    assert roc_auc([0.1, 0.2], [True, True]) is None


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="6 scores for 7 candidates"):
        agreement_report(CANDIDATES, SCORES[:6], QRELS)
    with pytest.raises(InputError, match="no candidate's query has human judgements"):
        agreement_report(CANDIDATES, SCORES, {"9": {"a": 1}})
