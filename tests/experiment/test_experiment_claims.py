"""Claims: parsed and checked against the grids, tested on made-up per-query scores whose
differences are known, and published with the report into a docs folder and a README section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bixse.errors import InputError
from bixse.experiment import config_from_mapping, publish_experiment
from bixse.experiment.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_RUN, evaluate_claims
from bixse.experiment.config import evaluation_settings

from toy_experiment import toy_mapping

CLAIMS = [
    {"claim": "BiXSE beats InfoNCE", "arm": {"loss": "bixse", "transform": "none"}, "against": {"loss": "infonce"},
     "paper": "70.26 vs 67.40"},
    {"claim": "BiXSE beats InfoNCE under flips", "arm": {"loss": "bixse", "transform": {"flip": 0.5}},
     "against": {"loss": "infonce"}},
    {"claim": "Flips hurt InfoNCE", "arm": {"loss": "infonce", "transform": "none"},
     "against": {"transform": {"flip": 0.5}}},
]


def _config(claims=CLAIMS, **grid):
    mapping = toy_mapping(Path("all-MiniLM-L6-v2"), **grid)
    mapping["claims"] = claims
    return config_from_mapping(mapping, "toy.yaml", yaml.safe_dump(mapping, sort_keys=False))


def _results(config, offsets: dict[tuple[str, str], float], noise: float = 0.0, queries: int = 40,
             skip: tuple[str, ...] = ()) -> list[dict]:
    """A result per cell: base scores shared by every cell, plus the arm's offset and optional noise."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, size=queries)
    results = []
    for cell in config.cells():
        if cell.transform.name in skip:
            continue
        shift = offsets.get((cell.loss.name, cell.transform.name), 0.0)
        scores = base + shift + noise * rng.standard_normal(queries)
        per_query = {measure: {f"q{i}": float(v) for i, v in enumerate(scores)} for measure in ("nDCG@10", "R@100")}
        evaluation = {t.name: {"per_query": per_query, "num_queries": queries, "conventions": "test",
                               "aggregate": {m: float(scores.mean()) for m in ("nDCG@10", "R@100")}}
                      for t in cell.evaluation}
        results.append({"key": cell.key, "grid": cell.grid, "spec": cell.spec(), "seed": cell.seed,
                        "evaluation_settings": evaluation_settings(config.evaluation),
                        "arm": dict(zip(("loss", "labels", "transform", "batch_size", "max_steps"), cell.arm)),
                        "evaluation": evaluation, "path": f"cells/{cell.key}/result.json"})
    return results


def test_claims_name_their_arms_and_against_inherits_the_rest():
    claims = _config().claims
    assert claims[0].arm == ("bixse", "human", "none", 4, 4)
    assert claims[0].against == ("infonce", "human", "none", 4, 4)
    assert claims[2].against == ("infonce", "human", "flip0.5", 4, 4)
    assert claims[0].paper == "70.26 vs 67.40" and claims[0].min_effect == 0.01


@pytest.mark.parametrize("claim, field, message", [
    ({"claim": "x", "arm": {"los": "bixse"}, "against": {"loss": "infonce"}}, "claims[0].arm.los", "unknown key"),
    ({"claim": "x", "arm": {"loss": "bixse"}, "against": {"loss": "infonce"}}, "claims[0].arm", "2 arms"),
    ({"claim": "x", "arm": {"loss": "lsepair"}, "against": {"loss": "infonce"}}, "claims[0].arm", "no arm"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}, "against": {"labels": "gpt"}},
     "claims[0].against", "no arm"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}, "against": {}}, "claims[0].against", "same arm"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}}, "claims[0].against", "missing key"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": {"flip": 2}}, "against": {"loss": "infonce"}},
     "claims[0].arm.transform.flip", r"in \[0, 1\]"),
    ({"arm": {"loss": "bixse", "transform": "none"}, "against": {"loss": "infonce"}}, "claims[0].claim", "missing"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}, "against": {"loss": "infonce"},
      "min_effect": -0.1}, "claims[0].min_effect", ">= 0"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}, "against": {"loss": "infonce"}, "paper": None},
     "claims[0].paper", "non-empty string"),
    ({"claim": "x", "arm": {"loss": "bixse", "transform": "none"}, "against": {"loss": "infonce"}, "papers": "y"},
     "claims[0].papers", "unknown key"),
    ("BiXSE wins", "claims[0]", "mapping"),
])
def test_a_bad_claim_names_its_key(claim, field, message):
    with pytest.raises(InputError, match=message) as error:
        _config([claim])
    assert error.value.field == field


def test_claims_must_be_a_list():
    with pytest.raises(InputError, match="a list of claims") as error:
        _config({"claim": "x"})
    assert error.value.field == "claims"


def test_a_claimed_arm_that_two_grids_evaluate_differently_is_refused():
    mapping = toy_mapping(Path("all-MiniLM-L6-v2"))
    mapping["grids"]["elsewhere"] = {"loss": ["bixse", "infonce"], "labels": ["human"], "seed": [0],
                                     "evaluation": ["cranfield:test"]}
    mapping["claims"] = CLAIMS[:1]
    with pytest.raises(InputError, match="evaluated on different collections") as error:
        config_from_mapping(mapping, "toy.yaml")
    assert error.value.field == "claims[0].arm"


def test_claim_differences_and_verdicts_follow_the_scores():
    config = _config()
    # bixse +0.05 on every query (holds); under flips bixse = infonce up to small noise (a gain of 0.01
    # excluded, no significant difference); flips cost infonce 0.03.
    results = _results(config, {("bixse", "none"): 0.05, ("bixse", "flip0.5"): -0.03,
                                ("infonce", "flip0.5"): -0.03}, noise=0.004)
    records = evaluate_claims(results, config.claims, "nDCG@10", n_resamples=500)
    assert [r["seeds"] for r in records] == [[0, 1]] * 3
    assert records[0]["delta"] == pytest.approx(0.05, abs=0.002) and records[0]["verdict"] == HOLDS
    assert abs(records[1]["delta"]) < 0.002 and records[1]["boot_p_holm"] > 0.05 and records[1]["ci"][1] < 0.01
    assert records[1]["verdict"] == DOES_NOT_HOLD and "a gain of 0.01 or more is rejected" in records[1]["sentence"]
    assert records[2]["delta"] == pytest.approx(0.03, abs=0.002) and records[2]["verdict"] == HOLDS
    assert records[0]["contrast"] == "bixse − infonce (human, none)"
    assert records[2]["contrast"] == "none − flip0.5 (infonce, human)"
    # Holm over the three claims: the smallest p times 3, the next times 2 (never below the one before).
    raw = sorted(r["rand_p"] for r in records)
    adjusted = sorted(r["rand_p_holm"] for r in records)
    assert adjusted[0] == pytest.approx(min(1, 3 * raw[0]))
    assert adjusted[1] == pytest.approx(min(1, max(3 * raw[0], 2 * raw[1])))
    assert all(r["family"] == 3 for r in records) and "Holm over 3 tested claims" in records[0]["sentence"]


def test_a_significant_gain_below_min_effect_holds_with_that_said():
    config = _config(CLAIMS[:1])
    record = evaluate_claims(_results(config, {("bixse", "none"): 0.004}, noise=0.001), config.claims,
                             "nDCG@10", 500)[0]
    assert record["verdict"] == HOLDS and record["at_least_p_holm"] < 0.05
    assert "one of 0.01 or more is rejected" in record["sentence"]


def test_a_reversed_claim_does_not_hold_and_noise_is_inconclusive():
    config = _config(CLAIMS[:1])
    behind = evaluate_claims(_results(config, {("bixse", "none"): -0.05}), config.claims, "nDCG@10", 500)[0]
    assert behind["verdict"] == DOES_NOT_HOLD and "significantly negative" in behind["sentence"]
    noisy = evaluate_claims(_results(config, {("bixse", "none"): 0.01}, noise=0.2), config.claims, "nDCG@10", 500)[0]
    assert noisy["ci"][0] < 0 < noisy["ci"][1] and noisy["verdict"] == INCONCLUSIVE


def test_a_claim_whose_cells_have_not_run_says_so():
    config = _config()
    records = evaluate_claims(_results(config, {}, skip=("flip0.5",)), config.claims, "nDCG@10", 300)
    assert [r["verdict"] for r in records[1:]] == [NOT_RUN, NOT_RUN] and "delta" not in records[1]
    assert records[0]["family"] == 1 and records[0]["boot_p_holm"] == records[0]["boot_p"]
    assert records[1]["sentence"].endswith("not run yet (bixse − infonce (human, flip0.5)).")


def _experiment_folder(tmp_path: Path) -> Path:
    config = _config()
    output = tmp_path / "run"
    for result in _results(config, {("bixse", "none"): 0.05}):
        cell = output / "cells" / result["key"]
        cell.mkdir(parents=True)
        (cell / "result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "path"}))
        (cell / "cell.json").write_text(json.dumps({"key": result["key"]}))
        (cell / "model").mkdir()  # a leftover model is not published
    (output / "experiment.yaml").write_text(config.text)
    return output


def test_publish_copies_the_records_and_rewrites_only_the_readme_section(tmp_path):
    output = _experiment_folder(tmp_path)
    docs = tmp_path / "docs" / "toy"
    (docs / "cells" / "stale-cell").mkdir(parents=True)  # published before, no longer a cell
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro names `<!-- experiment:start -->` in a line\n<!-- experiment:start -->\n"
                      "OLD-TEXT\n<!-- experiment:end -->\nafter\n")
    assert publish_experiment(output, docs, readme) == 8
    published = sorted(p.name for p in (docs / "cells").iterdir())
    assert published == sorted(p.name for p in (output / "cells").iterdir())
    assert (docs / "experiment.yaml").read_text() == (output / "experiment.yaml").read_text()
    assert not any((docs / "cells" / name / "model").exists() for name in published)
    report = json.loads((docs / "report" / "report.json").read_text())
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro names `<!-- experiment:start -->` in a line\n<!-- experiment:start -->\n"
                           "### What ran so far (8 of 8 cells; seeds 0, 1; 2 seeds per arm)")
    assert text.endswith("<!-- experiment:end -->\nafter\n") and "OLD-TEXT" not in text
    assert f"- {report['claims'][0]['sentence']}" in text and "**BiXSE beats InfoNCE** (70.26 vs 67.40): holds" in text
    assert "](docs/toy/report/flip.png)" in text and "labels-" not in text  # one label source: no labels figure
    # Publishing again changes nothing; a figure no longer drawn and a stale published cell go, a folder
    # holding more than published records (a model) stays.
    (docs / "report" / "cutoff.png").write_bytes(b"old figure")
    assert not (docs / "cells" / "stale-cell").exists()
    (docs / "cells" / "stale-cell").mkdir()
    (docs / "cells" / "stale-cell" / "result.json").write_text("{}")
    (docs / "cells" / "not-published" / "model").mkdir(parents=True)
    before = {p: p.read_bytes() for p in docs.rglob("*") if p.is_file() and p.parent.name != "report"}
    publish_experiment(output, docs, readme)
    assert readme.read_text() == text
    assert not (docs / "report" / "cutoff.png").exists() and not (docs / "cells" / "stale-cell").exists()
    assert (docs / "cells" / "not-published" / "model").is_dir()
    assert all(p.read_bytes() == content for p, content in before.items() if p.exists())


def test_publishing_into_the_experiment_folder_is_refused(tmp_path):
    output = _experiment_folder(tmp_path)
    with pytest.raises(InputError, match="outside the experiment") as error:
        publish_experiment(output, output / "docs")
    assert error.value.field == "to"


def test_publish_into_a_readme_without_markers_writes_nothing(tmp_path):
    output = _experiment_folder(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(InputError, match="experiment:start") as error:
        publish_experiment(output, tmp_path / "docs", readme)
    assert error.value.path == str(readme)
    assert not (tmp_path / "docs").exists() and readme.read_text() == "# no markers\n"


def test_a_grid_with_two_label_sources_gets_a_labels_figure(tmp_path):
    from bixse.experiment.report import write_report

    mapping = toy_mapping(Path("all-MiniLM-L6-v2"))
    mapping["labels"]["other"] = {"collection": "cranfield", "split": "train", "candidates": {"top_k": 3}}
    mapping["grids"]["noise"]["labels"] = ["human", "other"]
    config = config_from_mapping(mapping, "toy.yaml", yaml.safe_dump(mapping, sort_keys=False))
    output = tmp_path / "run"
    for result in _results(config, {}):
        (output / "cells" / result["key"]).mkdir(parents=True)
        (output / "cells" / result["key"] / "result.json").write_text(json.dumps(result))
    (output / "experiment.yaml").write_text(config.text)
    summary = write_report(output, n_resamples=200)
    assert summary["figures"] == ["flip.png", "labels-noise.png"]
    assert (output / "report" / "labels-noise.png").read_bytes()[:4] == b"\x89PNG"
    report = (output / "report" / "report.md").read_text()
    assert "![labels-noise.png](labels-noise.png)" in report
    assert "Cells ran on: not recorded (cells run before bixse recorded it) (16)." in report


def test_markers_in_a_code_fence_do_not_count_and_crlf_endings_are_kept(tmp_path):
    from bixse.experiment.publish import replace_section

    readme = tmp_path / "README.md"
    readme.write_bytes(b"# T\r\n```\r\n<!-- experiment:start -->\r\n```\r\n<!-- experiment:start -->\r\nold\r\n"
                       b"<!-- experiment:end -->\r\ntail\r\n")
    replace_section(readme, "new\nlines\n")
    assert readme.read_bytes() == (b"# T\r\n```\r\n<!-- experiment:start -->\r\n```\r\n<!-- experiment:start -->\r\n"
                                   b"new\r\nlines\r\n<!-- experiment:end -->\r\ntail\r\n")


def test_a_readme_with_no_relative_path_to_the_docs_links_them_absolutely(tmp_path, monkeypatch):
    from bixse.experiment import publish

    def other_drive(path, start=None):  # what os.path.relpath does across Windows drives
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    assert publish._link_from(tmp_path / "README.md", tmp_path / "docs" / "toy") == "docs/toy"
    monkeypatch.setattr(publish.os.path, "relpath", other_drive)
    assert publish._link_from(tmp_path / "README.md", tmp_path / "docs" / "toy") == (tmp_path / "docs" / "toy").resolve().as_posix()


@pytest.mark.parametrize("at_least_p, verdict", [(0.04, INCONCLUSIVE), (0.02, DOES_NOT_HOLD)])
def test_a_gain_is_rejected_only_above_the_printed_95_percent_interval(at_least_p, verdict):
    from bixse.experiment.claims import claim_verdict

    record = {"delta": 0.0, "boot_p_holm": 1.0, "rand_p_holm": 1.0, "at_least_p_holm": at_least_p, "min_effect": 0.01}
    assert claim_verdict(record)[0] == verdict


def _cell(seed: int, scores: dict[str, dict[str, float]], loss: str = "bixse") -> dict:
    return {"arm": {"loss": loss, "labels": "human", "transform": "none", "batch_size": 4, "max_steps": 4},
            "seed": seed, "grid": "g", "spec": {"transform": {}}, "path": f"cells/{loss}-{seed}/result.json",
            "evaluation": {target: {"per_query": {"nDCG@10": per_query}} for target, per_query in scores.items()}}


def test_two_arms_are_paired_by_query_id_not_by_position():
    from bixse.experiment.aggregate import difference_matrices

    arm = {0: _cell(0, {"c": {"a": 0.9, "b": 0.5, "c": 0.4}})}
    base = {0: _cell(0, {"c": {"b": 0.2, "c": 0.1, "d": 0.0}}, loss="infonce")}
    (difference,) = difference_matrices(arm, base, [0], ["c"], "nDCG@10")
    np.testing.assert_allclose(difference, [[0.3, 0.3]])  # b and c, each against itself


def test_an_arm_evaluated_on_other_collections_is_an_arm_of_its_own():
    from bixse.experiment.aggregate import group_arms

    one = {"x": {"q": 0.5}, "y": {"q": 0.5}}
    by_arm, _ = group_arms([_cell(0, one), _cell(1, dict(reversed(one.items()))),  # same set, other order
                            _cell(2, {"x": {"q": 0.5}}), _cell(2, {"y": {"q": 0.5}})])
    assert sorted(map(sorted, by_arm.values())) == [[0, 1], [2], [2]]  # no seed overwritten by another set
    assert len(set(by_arm)) == 3


def test_a_claim_naming_the_budget_shows_it_and_the_readme_power_keeps_it(tmp_path):
    from bixse.experiment.publish import readme_section
    from bixse.experiment.report import build_summary

    claims = [{"claim": "BiXSE beats InfoNCE at 4 steps", "arm": {"loss": "bixse", "transform": "none", "max_steps": 4},
               "against": {"loss": "infonce"}}]
    config = _config(claims)
    assert config.claims[0].named == ("max_steps",)
    records = evaluate_claims(_results(config, {}), config.claims, "nDCG@10", n_resamples=100)
    assert records[0]["contrast"] == "bixse − infonce (human, none, n4)"
    output = _experiment_folder(tmp_path)
    section = readme_section(build_summary(output, n_resamples=100), "docs/toy")
    assert "Power (half-width" in section and "bixse · human · b4 · n4 ±" in section
