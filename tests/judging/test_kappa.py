"""Cohen's kappa, binary kappa and the calibration table of the agreement report, against values
computed by hand on a 2x2 and a 3x3 table."""

from __future__ import annotations

import math

import pytest

from bixse.errors import InputError
from bixse.judging import Judgement, agreement_report, cohen_kappa, judge_grades, top_grade
from bixse.judging.agreement import judge_grade
from bixse.mining import Candidate


def table_to_pairs(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Rater A's and rater B's grades from a confusion table (rows A, columns B)."""
    a, b = [], []
    for row, counts in enumerate(table):
        for column, count in enumerate(counts):
            a += [row] * count
            b += [column] * count
    return a, b


def test_kappa_2x2_by_hand() -> None:
    # [[4, 1], [2, 3]]: p_o = 7/10; marginals A (.5, .5), B (.6, .4): p_e = .5*.6 + .5*.4 = .5.
    a, b = table_to_pairs([[4, 1], [2, 3]])
    assert cohen_kappa(a, b, [0, 1]) == pytest.approx((0.7 - 0.5) / (1 - 0.5))  # 0.4


def test_kappa_3x3_by_hand() -> None:
    # p_o = 10/15; rows (6, 6, 3), columns (7, 5, 3): p_e = (42 + 30 + 9) / 225 = 9/25.
    # kappa = (2/3 - 9/25) / (1 - 9/25) = (23/75) / (16/25) = 23/48.
    a, b = table_to_pairs([[5, 1, 0], [2, 3, 1], [0, 1, 2]])
    assert cohen_kappa(a, b, [0, 1, 2]) == pytest.approx(23 / 48)
    assert cohen_kappa(a, a, [0, 1, 2]) == pytest.approx(1.0)


def test_kappa_undefined_and_empty() -> None:
    assert cohen_kappa([1, 1, 1], [1, 1, 1], [0, 1]) is None, "both raters constant: chance agreement 1"
    assert cohen_kappa([], [], [0, 1]) is None
    # A label neither rater used changes nothing.
    a, b = [0, 1, 1, 0], [0, 1, 0, 0]
    assert cohen_kappa(a, b, [0, 1, 2, 3]) == pytest.approx(cohen_kappa(a, b, [0, 1]))


def report_of_table(table: list[list[int]], **options):
    """One query, one candidate per cell count; human grade = row, judge score = column / 2."""
    humans, judges = table_to_pairs(table)
    candidates = [Candidate("1", f"d{i}", i + 1, 0.0) for i in range(len(humans))]
    qrels = {"1": {f"d{i}": grade for i, grade in enumerate(humans)}}
    return agreement_report(candidates, [grade / 2 for grade in judges], qrels, **options), judges


def test_report_kappas_and_confusion_on_the_3x3_table() -> None:
    table = [[5, 1, 0], [2, 3, 1], [0, 1, 2]]
    report, judges = report_of_table(table)
    assert report.max_grade == 2 and report.kappa_threshold == 2
    view = report.views["judged_only"]
    assert view.confusion == table
    assert view.kappa_graded == pytest.approx(23 / 48)
    # Binary at grade >= 2: [[11, 1], [1, 2]]: p_o = 13/15, p_e = .8*.8 + .2*.2 = 17/25 -> (14/75) / (8/25) = 7/12.
    assert view.kappa_binary == pytest.approx(7 / 12)
    # The same with the judge's grades passed explicitly, and with another threshold:
    # >= 1: [[5, 1], [2, 7]]: p_o = 12/15; humans (6, 9)/15, judge (7, 8)/15: p_e = (42 + 72) / 225.
    explicit, _ = report_of_table(table, kappa_threshold=1)
    p_e = (6 * 7 + 9 * 8) / 225
    assert explicit.views["judged_only"].kappa_binary == pytest.approx((12 / 15 - p_e) / (1 - p_e))
    given = agreement_report([Candidate("1", f"d{i}", i + 1, 0.0) for i in range(15)], [0.0] * 15,
                             {"1": {f"d{i}": g for i, g in enumerate(table_to_pairs(table)[0])}}, grades=judges)
    assert given.views["judged_only"].kappa_graded == pytest.approx(23 / 48)


def test_calibration_table_by_hand() -> None:
    candidates = [Candidate("1", d, i + 1, 0.0) for i, d in enumerate("abcdef")]
    qrels = {"1": {"a": 0, "b": 0, "c": 0, "d": 1, "e": 3}}  # f unjudged
    scores = [0.1, 0.2, 0.6, 0.5, 0.9, 0.4]
    calibration = agreement_report(candidates, scores, qrels).views["judged_only"].calibration
    assert calibration[0]["count"] == 3 and calibration[0]["mean_score"] == pytest.approx(0.3)
    # Sample sd of (.1, .2, .6): deviations -.2, -.1, .3 -> sqrt((.04 + .01 + .09) / 2).
    assert calibration[0]["sd_score"] == pytest.approx(math.sqrt(0.07))
    assert calibration[1] == {"count": 1, "mean_score": pytest.approx(0.5), "sd_score": None}
    assert 2 not in calibration and calibration[3]["mean_score"] == pytest.approx(0.9)
    everything = agreement_report(candidates, scores, qrels).views["all_candidates"].calibration
    assert everything[0]["count"] == 4, "the unjudged candidate counts as grade 0 in this view"


def test_judge_grade_rules() -> None:
    bixse_scale = Judgement(score=0.7, distribution={"1": 0.1, "2": 0.2, "3": 0.6, "4": 0.1})
    assert judge_grade(bixse_scale, 3) == 2, "1-4 maps to 0-3 by position"
    umbrela_scale = Judgement(score=0.4, distribution={"0": 0.1, "1": 0.2, "2": 0.3, "3": 0.4})
    assert judge_grade(umbrela_scale, 3) == 3, "the most probable grade, not the rounded expectation"
    assert judge_grade(Judgement(score=0.5), 3) == 2, "no distribution: floor(0.5 * 3 + 0.5)"
    assert judge_grade(Judgement(score=0.49), 3) == 1
    yesno = Judgement(score=0.8, distribution={"yes": 0.8, "no": 0.2})
    assert judge_grade(yesno, 3) == 2
    assert judge_grades([umbrela_scale, None], 3) == [3, None]
    assert top_grade({"1": {"a": 0, "b": 2}, "2": {"c": 4}}) == 4


def test_binary_qrels_default_to_threshold_one() -> None:
    candidates = [Candidate("1", d, i + 1, 0.0) for i, d in enumerate("abcd")]
    report = agreement_report(candidates, [0.9, 0.2, 0.7, 0.1], {"1": {"a": 1, "b": 0, "c": 0, "d": 0}})
    assert (report.max_grade, report.kappa_threshold) == (1, 1)
    # [[2, 1], [0, 1]]: p_o = 3/4; humans (3/4, 1/4), judge (1/2, 1/2): p_e = 1/2 -> kappa 1/2, both ways.
    view = report.views["judged_only"]
    assert view.kappa_graded == pytest.approx(0.5) and view.kappa_binary == pytest.approx(0.5)


def test_bad_inputs() -> None:
    candidates = [Candidate("1", "a", 1, 0.0), Candidate("1", "b", 2, 0.0)]
    qrels = {"1": {"a": 0, "b": 3}}
    with pytest.raises(InputError, match="1 grades for 2 candidates") as error:
        agreement_report(candidates, [0.1, 0.9], qrels, grades=[1])
    assert error.value.field == "grades"
    with pytest.raises(InputError, match="outside 0..3"):
        agreement_report(candidates, [0.1, 0.9], qrels, grades=[0, 4])
    with pytest.raises(InputError, match="threshold must be in 1..3") as error:
        agreement_report(candidates, [0.1, 0.9], qrels, kappa_threshold=4)
    assert error.value.field == "kappa_threshold"
