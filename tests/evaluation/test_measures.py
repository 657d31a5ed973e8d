"""Measures on a 3-query toy run, computed by hand (trec_eval conventions)."""

import math

import pytest

from bixse.errors import InputError
from bixse.evaluation import EvaluationResult, evaluate_run

QRELS = {
    "q1": {"d1": 3, "d2": 1, "d3": 0, "d4": 2},
    "q2": {"d5": 1, "d6": 2},
    "q3": {"d7": 1},
    "q4": {"d8": 0},  # nothing relevant: cannot be scored, skipped
}
RUN = {
    "q1": {"d3": 0.9, "d1": 0.8, "d9": 0.7, "d4": 0.6},  # d9 unjudged; d2 not retrieved
    "q2": {"d10": 0.9, "d11": 0.8, "d6": 0.7},
    # q3 missing from the run: scores 0
    "q5": {"d1": 1.0},  # not in the qrels: ignored
}
log2 = math.log2

# q1 ranks grades 0, 3, -, 2; ideal order 3, 2, 1.
Q1_NDCG = (3 / log2(3) + 2 / log2(5)) / (3 + 2 / log2(3) + 1 / log2(4))
# q2 ranks -, -, 2; ideal 2, 1.
Q2_NDCG = (2 / log2(4)) / (2 + 1 / log2(3))
HAND = {  # relevance threshold 1
    "nDCG@10": {"q1": Q1_NDCG, "q2": Q2_NDCG, "q3": 0.0},
    "MRR@10": {"q1": 1 / 2, "q2": 1 / 3, "q3": 0.0},
    "R@100": {"q1": 2 / 3, "q2": 1 / 2, "q3": 0.0},
    "MAP": {"q1": (1 / 2 + 2 / 4) / 3, "q2": (1 / 3) / 2, "q3": 0.0},
}


def test_default_measures_match_hand_computed_values():
    result = evaluate_run(RUN, QRELS, name="toy")
    assert result.measures == ("nDCG@10", "MRR@10", "R@100", "MAP")
    assert result.query_ids == ("q1", "q2", "q3") and result.skipped_queries == ("q4",)
    for measure, by_query in HAND.items():
        for query_id, value in by_query.items():
            assert result.per_query[measure][query_id] == pytest.approx(value, abs=1e-12), (measure, query_id)
        assert result.aggregate[measure] == pytest.approx(sum(by_query.values()) / 3, abs=1e-12)


def test_relevance_threshold_applies_to_binary_measures_only():
    result = evaluate_run(RUN, QRELS, relevance_threshold=2)
    # q3 has nothing with grade >= 2 now; q1's relevant set is {d1, d4}, q2's is {d6}.
    assert result.query_ids == ("q1", "q2")
    assert result.per_query["MRR@10"] == pytest.approx({"q1": 1 / 2, "q2": 1 / 3})
    assert result.per_query["R@100"] == pytest.approx({"q1": 1.0, "q2": 1.0})
    assert result.per_query["MAP"] == pytest.approx({"q1": (1 / 2 + 2 / 4) / 2, "q2": 1 / 3})
    assert result.per_query["nDCG@10"] == pytest.approx({"q1": Q1_NDCG, "q2": Q2_NDCG})  # graded, unchanged
    assert "grade >= 2" in result.conventions()


def test_cutoffs_and_other_measure_names():
    result = evaluate_run(RUN, QRELS, ["nDCG@1", "R@2", "P@4", "Recall@3", "MRR@1"])
    assert result.per_query["nDCG@1"]["q1"] == 0.0  # the first document is judged non-relevant
    assert result.per_query["R@2"] == pytest.approx({"q1": 1 / 3, "q2": 0.0, "q3": 0.0})
    assert result.per_query["P@4"] == pytest.approx({"q1": 2 / 4, "q2": 1 / 4, "q3": 0.0})
    assert result.per_query["Recall@3"]["q2"] == pytest.approx(1 / 2)
    assert result.per_query["MRR@1"]["q1"] == 0.0


def test_exponential_gain_variant():
    result = evaluate_run(RUN, QRELS, ["nDCG@10"], ndcg_gain="exponential")
    expected = (7 / log2(3) + 3 / log2(5)) / (7 + 3 / log2(3) + 1 / log2(4))
    assert result.per_query["nDCG@10"]["q1"] == pytest.approx(expected, abs=1e-12)
    assert "2^g - 1" in result.conventions()


def test_round_trip_through_a_dict():
    result = evaluate_run(RUN, QRELS, name="toy")
    assert EvaluationResult.from_dict(result.to_dict()) == result


def test_bad_measures_and_qrels_are_input_errors():
    with pytest.raises(InputError, match="unknown measure 'Foo@3'"):
        evaluate_run(RUN, QRELS, ["Foo@3"])
    with pytest.raises(InputError, match="listed twice"):
        evaluate_run(RUN, QRELS, ["MAP", "MAP"])
    with pytest.raises(InputError, match="no query in the qrels"):
        evaluate_run(RUN, {"q4": {"d8": 0}})


def test_recall_and_precision_without_a_cutoff_fail_before_any_retrieval():
    from bixse.evaluation.measures import check_measures
    for name in ("R", "P"):
        with pytest.raises(InputError, match=f"'{name}' needs a cutoff") as caught:
            check_measures(["nDCG@10", name])
        assert caught.value.field == "measure"


def test_judged_only_reciprocal_rank_drops_unjudged_documents_before_the_cut():
    """12 unjudged documents above the one relevant: judged-only, it is first (RR 1), not past rank 10."""
    qrels = {"q1": {"a": 1, "z": 0}}
    run = {"q1": {**{f"u{i:02d}": 1.0 - i / 100 for i in range(12)}, "a": 0.5, "z": 0.4}}
    result = evaluate_run(run, qrels, ["RR(judged_only=True)@10", "RR@10", "nDCG(judged_only=True)@10"])
    assert result.aggregate == pytest.approx({"RR(judged_only=True)@10": 1.0, "RR@10": 0.0,
                                              "nDCG(judged_only=True)@10": 1.0})


def test_agrees_with_pytrec_eval_on_random_graded_runs():
    import numpy as np
    import pytrec_eval

    rng = np.random.default_rng(0)
    qrels, run = {}, {}
    for q in range(40):
        judged = rng.choice(300, size=25, replace=False)
        qrels[f"q{q}"] = {f"d{d}": int(g) for d, g in zip(judged, rng.integers(0, 5, size=25))}
        qrels[f"q{q}"][f"d{judged[0]}"] = 3  # every query has a relevant document
        retrieved = rng.choice(300, size=120, replace=False)
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(retrieved, rng.permutation(120))}
    ours = evaluate_run(run, qrels, relevance_threshold=2)
    top10 = {q: dict(sorted(docs.items(), key=lambda item: -item[1])[:10]) for q, docs in run.items()}
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map"}, relevance_level=2).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=2).evaluate(top10)
    for q in qrels:
        assert ours.per_query["nDCG@10"][q] == pytest.approx(full[q]["ndcg_cut_10"], abs=1e-9)
        assert ours.per_query["R@100"][q] == pytest.approx(full[q]["recall_100"], abs=1e-9)
        assert ours.per_query["MAP"][q] == pytest.approx(full[q]["map"], abs=1e-9)
        assert ours.per_query["MRR@10"][q] == pytest.approx(rr[q]["recip_rank"], abs=1e-9)


def test_score_ties_are_broken_as_trec_eval_does_for_every_measure():
    # trec_eval orders equal scores by doc id descending: "b" ranks before "a", "k" before "j"...
    qrels = {"q1": {"a": 1}}
    tied = {"q1": {"a": 1.0, "b": 1.0}}
    result = evaluate_run(tied, qrels, ["MRR@10", "MRR", "nDCG@10"])
    assert result.per_query["MRR@10"]["q1"] == result.per_query["MRR"]["q1"] == 0.5
    assert result.per_query["nDCG@10"]["q1"] == pytest.approx(1 / log2(3))
    eleven = {"q1": {doc: 1.0 for doc in "abcdefghijk"}}  # "a" is 11th: outside the top 10
    assert evaluate_run(eleven, qrels, ["MRR@10"]).per_query["MRR@10"]["q1"] == 0.0
    assert evaluate_run(eleven, qrels, ["MRR@11"]).per_query["MRR@11"]["q1"] == pytest.approx(1 / 11)


def test_run_sharing_no_query_with_the_qrels_is_an_input_error():
    prefixed = {f"x{q}": docs for q, docs in RUN.items()}
    with pytest.raises(InputError, match="no query id .* 3 queries .* e.g. xq1.* e.g. q1") as error:
        evaluate_run(prefixed, QRELS, name="prefixed")
    assert error.value.field == "run"
    with pytest.raises(InputError, match="no query id") as error:
        evaluate_run({}, QRELS, path="empty.trec")
    assert error.value.path == "empty.trec"


def test_partial_run_is_scored_with_a_warning_that_counts_the_queries(caplog):
    result = evaluate_run(RUN, QRELS, name="toy")  # q3 is missing: it scores 0, as documented
    assert result.per_query["nDCG@10"]["q3"] == 0.0
    assert "toy: run covers 2 of 3 queries" in caplog.text
    caplog.clear()
    evaluate_run({**RUN, "q3": {"d7": 1.0}}, QRELS)
    assert "covers" not in caplog.text
