"""Comparing models: intervals, paired tests vs the baseline, Holm across models."""

import numpy as np
import pytest

from bixse.errors import InputError
from bixse.evaluation import EvaluationResult, compare, holm_correction, paired_randomization_test, paired_t_test


def result(name, ndcg, measures=("nDCG@10",)):
    query_ids = [f"q{i}" for i in range(len(ndcg))]
    per_query = {m: dict(zip(query_ids, map(float, ndcg))) for m in measures}
    return EvaluationResult(name=name, aggregate={m: float(np.mean(ndcg)) for m in measures},
                            per_query=per_query, measures=tuple(measures))


@pytest.fixture()
def systems():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.7, size=30)
    return {
        "base": base,
        "same": base.copy(),
        "better": np.clip(base + 0.15 + rng.normal(0, 0.03, size=30), 0, 1),
        "noisy": np.clip(base + rng.normal(0, 0.1, size=30), 0, 1),
    }


def test_tests_against_the_default_baseline(systems):
    comparison = compare([result(n, v) for n, v in systems.items()], n_resamples=2000)
    assert comparison.baseline == "base" and comparison.test("base", "nDCG@10") is None
    same = comparison.test("same", "nDCG@10")
    assert same.delta == 0.0 and same.t_test_p == 1.0 and same.randomization_p == 1.0
    better = comparison.test("better", "nDCG@10")
    assert better.delta == pytest.approx(np.mean(systems["better"] - systems["base"]))
    assert better.delta_ci[0] > 0 and better.significant()
    assert not comparison.test("noisy", "nDCG@10").significant() or comparison.test("noisy", "nDCG@10").delta != 0
    low, high = comparison.intervals["better"]["nDCG@10"]
    assert low < np.mean(systems["better"]) < high


def test_holm_is_applied_across_the_models(systems):
    comparison = compare([result(n, v) for n, v in systems.items()], n_resamples=2000)
    tests = [comparison.test(name, "nDCG@10") for name in ("same", "better", "noisy")]
    raw_t = [paired_t_test(systems[t.model], systems["base"]) for t in tests]
    raw_rand = [paired_randomization_test(systems[t.model], systems["base"], 2000) for t in tests]
    assert [t.t_test_p for t in tests] == pytest.approx(raw_t)
    assert [t.t_test_p_holm for t in tests] == pytest.approx(holm_correction(raw_t))
    assert [t.randomization_p_holm for t in tests] == pytest.approx(holm_correction(raw_rand))


def test_explicit_baseline_and_mapping_input(systems):
    comparison = compare({n: result(n, v) for n, v in systems.items()}, baseline="better", n_resamples=500)
    assert comparison.baseline == "better"
    assert comparison.test("base", "nDCG@10").delta < 0
    assert {t.model for t in comparison.tests} == {"base", "same", "noisy"}


def test_incomparable_results_are_rejected(systems):
    with pytest.raises(InputError, match="baseline 'nope'"):
        compare([result("a", systems["base"])], baseline="nope")
    with pytest.raises(InputError, match="different queries"):
        compare([result("a", systems["base"]), result("b", systems["base"][:10])])
    with pytest.raises(InputError, match="scored on"):
        compare([result("a", systems["base"]), result("b", systems["base"], ("MAP",))])
    with pytest.raises(InputError, match="distinct"):
        compare([result("a", systems["base"]), result("a", systems["better"])])
    with pytest.raises(InputError, match="n_resamples must be positive"):
        compare([result("a", systems["base"]), result("b", systems["better"])], n_resamples=0)


def test_evaluating_runs_checks_resampling_before_reading_any_run(tmp_path):
    """A bad --resamples fails before any work, not after every model has retrieved."""
    from bixse.evaluation.pipeline import evaluate_run_files
    with pytest.raises(InputError, match="n_resamples") as caught:
        evaluate_run_files([tmp_path / "absent.trec"], {"q1": {"d1": 1}}, n_resamples=0)
    assert caught.value.field == "n_resamples"
