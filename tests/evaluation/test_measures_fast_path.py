"""The fast path of evaluate_run (bixse's own trec_eval arithmetic for nDCG@k, RR, R@k, P@k, AP)
against the ir_measures path it replaces for those measures, on runs full of score ties."""

import math

import numpy as np
import pytest

from bixse.evaluation import measures as measures_module
from bixse.evaluation import evaluate_run

FAST_MEASURES = [
    "nDCG@10", "MRR@10", "R@100", "MAP",  # the defaults
    "nDCG@1", "nDCG@3", "nDCG@20", "nDCG@1000", "MRR", "MRR@1", "MRR@3", "RR@5", "RR(rel=2)@10",
    "R@1", "R@5", "Recall@5", "Recall@20", "P@1", "P@5", "P@30", "MAP@5", "AP@10", "AP",
]  # aliases of one measure ("MAP" and "AP", "R@5" and "Recall@5") each get its values
# Doc ids whose strcmp order differs from their numeric order, one non-ASCII.
POOL = [f"d{i}" for i in range(40)] + ["D7", "d1a", "d_", "dé", "e", "0"]


def random_qrels_and_run(seed: int, num_queries: int = 300) -> tuple[dict, dict]:
    """Graded qrels (grades -1..4, some queries with nothing relevant) and a run with scores
    rounded to 0.1 (many ties), some queries missing, some with an empty ranking, some extra."""
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(num_queries):
        judged = rng.choice(len(POOL), size=int(rng.integers(1, 15)), replace=False)
        qrels[f"q{q}"] = {POOL[d]: int(g) for d, g in zip(judged, rng.integers(-1, 5, size=len(judged)))}
        kind = rng.random()
        if kind < 0.08:
            continue  # missing from the run
        if kind < 0.12:
            run[f"q{q}"] = {}
            continue
        retrieved = rng.choice(len(POOL), size=int(rng.integers(1, len(POOL))), replace=False)
        run[f"q{q}"] = {POOL[d]: round(float(s), 1) for d, s in zip(retrieved, rng.random(len(retrieved)))}
    run["not-in-qrels"] = {"d1": 1.0}
    return qrels, run


def ir_measures_path(run, qrels, measures=measures_module.DEFAULT_MEASURES, threshold=1, gain="linear"):
    return measures_module._evaluate(run, qrels, measures, threshold, gain, "run", None, fast_path=False)


def fast_only(monkeypatch, *args, **kwargs):
    """evaluate_run with ir_measures made unreachable: every measure must come from the fast path."""
    def refuse(*_, **__):
        raise AssertionError("ir_measures was called")

    with monkeypatch.context() as patch:
        patch.setattr(measures_module, "_evaluate_with_ir_measures", refuse)
        return evaluate_run(*args, **kwargs)


def assert_same(ours, reference, tolerance=1e-12):
    assert ours.query_ids == reference.query_ids
    assert ours.skipped_queries == reference.skipped_queries
    for measure in reference.measures:
        for query_id, value in reference.per_query[measure].items():
            assert ours.per_query[measure][query_id] == pytest.approx(value, abs=tolerance), (measure, query_id)
        assert ours.aggregate[measure] == pytest.approx(reference.aggregate[measure], abs=tolerance), measure


@pytest.mark.parametrize(("seed", "threshold"), [(0, 1), (1, 2), (2, 3)])
def test_fast_path_equals_the_ir_measures_path_on_tied_runs(seed, threshold, monkeypatch):
    qrels, run = random_qrels_and_run(seed)
    measures = [m for m in FAST_MEASURES if threshold == 2 or "rel=" not in m]
    reference = ir_measures_path(run, qrels, measures, threshold)
    ours = fast_only(monkeypatch, run, qrels, measures, relevance_threshold=threshold)
    assert_same(ours, reference)
    assert 0 < reference.aggregate["MRR@10"] < reference.aggregate["MRR"]  # the data exercises the cut
    assert any(not run.get(q) for q in ours.query_ids)  # missing and empty rankings among the scored


def test_rr_at_k_is_recip_rank_on_the_run_cut_at_k_in_trec_eval_order():
    import pytrec_eval

    qrels, run = random_qrels_and_run(3)
    ours = evaluate_run(run, qrels, ["MRR@3", "MRR@10"], relevance_threshold=2)
    for k in (3, 10):
        # trec_eval's order: score descending (as a C float), ties by doc id descending.
        cut = {q: dict(sorted(docs.items(), key=lambda item: (np.float32(item[1]), item[0]), reverse=True)[:k])
               for q, docs in run.items() if q in ours.per_query["MRR@10"] and docs}
        expected = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=2).evaluate(cut)
        for query_id, value in ours.per_query[f"MRR@{k}"].items():
            assert value == expected.get(query_id, {"recip_rank": 0.0})["recip_rank"], (k, query_id)


def test_scores_equal_as_float32_tie_as_in_trec_eval_on_both_paths():
    import pytrec_eval

    qrels = {"q1": {"a": 1}}
    run = {"q1": {"a": 1.0 + 1e-9, "b": 1.0}}  # distinct doubles, the same C float: "b" ranks first
    expected = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)["q1"]["recip_rank"]
    assert expected == 0.5
    for result in (evaluate_run(run, qrels, ["MRR@10", "MRR"]), ir_measures_path(run, qrels, ["MRR@10", "MRR"])):
        assert result.per_query["MRR@10"]["q1"] == result.per_query["MRR"]["q1"] == 0.5


def test_hand_computed_case(monkeypatch):
    qrels = {
        "q1": {"a": 3, "b": 1, "c": 0, "d": 2, "e": -1},
        "q2": {"f": 1},  # missing from the run: 0
        "q3": {"g": 2},  # empty ranking: 0
        "q4": {"h": 0},  # nothing relevant: skipped
    }
    run = {"q1": {"c": 0.5, "a": 0.5, "x": 0.5, "d": 0.3, "e": 0.9, "b": 0.1}, "q3": {}}
    # trec_eval's order: e (0.9); x, c, a (0.5, ids descending); d (0.3); b (0.1).
    # Grades by rank: -1, unjudged, 0, 3, 2, 1.
    measures = ["nDCG@5", "nDCG@3", "MRR", "MRR@3", "MRR@4", "P@5", "R@5", "MAP", "MAP@4"]
    ideal = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    expected = {
        1: {"nDCG@5": (3 / math.log2(5) + 2 / math.log2(6)) / ideal, "nDCG@3": 0.0, "MRR": 1 / 4, "MRR@3": 0.0,
            "MRR@4": 1 / 4, "P@5": 2 / 5, "R@5": 2 / 3, "MAP": (1 / 4 + 2 / 5 + 3 / 6) / 3, "MAP@4": (1 / 4) / 3},
        2: {"nDCG@5": (3 / math.log2(5) + 2 / math.log2(6)) / ideal, "nDCG@3": 0.0, "MRR": 1 / 4, "MRR@3": 0.0,
            "MRR@4": 1 / 4, "P@5": 2 / 5, "R@5": 1.0, "MAP": (1 / 4 + 2 / 5) / 2, "MAP@4": (1 / 4) / 2},
    }
    for threshold, values in expected.items():
        result = fast_only(monkeypatch, run, qrels, measures, relevance_threshold=threshold)
        scored = ("q1", "q2", "q3") if threshold == 1 else ("q1", "q3")  # q2's grade 1 is below 2
        assert result.skipped_queries == (("q4",) if threshold == 1 else ("q2", "q4"))
        assert result.query_ids == scored
        for measure, value in values.items():
            assert result.per_query[measure]["q1"] == pytest.approx(value, abs=1e-15), (threshold, measure)
            assert all(result.per_query[measure][q] == 0.0 for q in scored[1:])


def test_measures_off_the_fast_path_still_go_through_ir_measures():
    qrels, run = random_qrels_and_run(4, num_queries=60)
    mixed = ["nDCG@10", "Judged@10", "Success@5", "MRR@10", "nDCG", "R@100"]
    assert_same(evaluate_run(run, qrels, mixed), ir_measures_path(run, qrels, mixed))
    exponential = ["nDCG@10", "MRR@10"]
    assert_same(evaluate_run(run, qrels, exponential, ndcg_gain="exponential"),
                ir_measures_path(run, qrels, exponential, gain="exponential"))


def test_what_the_fast_path_cannot_read_behaves_as_before():
    qrels = {"q1": {"a": 1, "b": 0}}
    nan_run = {"q1": {"a": math.nan, "b": 1.0, "c": 0.5}}
    assert_same(evaluate_run(nan_run, qrels), ir_measures_path(nan_run, qrels))
    with pytest.raises(TypeError, match="relevance to be integer"):  # pytrec_eval's error, as before
        evaluate_run({"q1": {"a": 1.0}}, {"q1": {"a": 1.0}})


@pytest.mark.parametrize("equal_lengths", [False, True])
def test_ranks_counted_in_small_steps_are_the_same(equal_lengths, monkeypatch):
    qrels, run = random_qrels_and_run(5, num_queries=80)
    if equal_lengths:  # every ranking one row of the score matrix, no padding
        run = {q: dict(list(docs.items())[:6]) for q, docs in run.items() if len(docs) >= 6}
    measures = [m for m in FAST_MEASURES if "rel=" not in m]
    reference = ir_measures_path(run, qrels, measures)
    monkeypatch.setattr(measures_module, "_CELLS", 64)  # a few queries, a few documents per step
    assert_same(fast_only(monkeypatch, run, qrels, measures), reference)
