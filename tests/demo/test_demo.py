"""The demo end to end at toy scale: tiny model, six training queries, two steps per loss."""

from __future__ import annotations

import json

import pytest

from bixse.demo import DemoConfig, run_demo
from bixse.errors import InputError

pytestmark = pytest.mark.slow


def toy_config(tiny_model_path, output_dir) -> DemoConfig:
    return DemoConfig(output_dir=output_dir, base_model=str(tiny_model_path), judge="bi-encoder",
                      judge_options={"model": str(tiny_model_path)}, candidates_per_query=5, max_train_queries=6,
                      max_steps=2, batch_size=4, max_seq_length=32, n_resamples=200)


@pytest.fixture(scope="module")
def toy_run(tiny_model_path, tmp_path_factory):
    config = toy_config(tiny_model_path, tmp_path_factory.mktemp("demo") / "out")
    return config, run_demo(config, log=lambda message: None)


def test_demo_trains_every_loss_on_both_label_sets_and_reports(toy_run):
    config, result = toy_run
    expected = ["bm25", "tiny-bert"] + [f"{loss}-{labels}" for labels in ("human", "judge")
                                        for loss in ("bixse", "infonce", "lsepair")]
    assert result.comparison.names == expected
    # Six queries with five candidates each, labelled twice over the same pairs.
    assert result.label_counts == {"human": 30, "judge": 30}
    assert result.judge_calls > 0
    human = [json.loads(line) for line in (config.output_dir / "data" / "human.jsonl").read_text().splitlines()]
    assert {round(pair["score"] * 4) for pair in human} <= {0, 1, 2, 3, 4}
    report = result.report.read_text()
    assert "## Verdict" in report and "bixse-human: nDCG@10" in report and "vs infonce-human" in report
    assert result.chart.read_bytes().startswith(b"\x89PNG")
    for labels in ("human", "judge"):
        assert result.comparisons_by_labels[labels].baseline == f"infonce-{labels}"
    for name in expected[2:]:
        assert (config.output_dir / "models" / name / "modules.json").is_file()


def _files_and_mtimes(folder) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def test_rerun_reuses_labels_embeddings_and_models(toy_run):
    config, first = toy_run
    embeddings = _files_and_mtimes(config.output_dir / "embeddings")
    assert len([name for name in embeddings if name.endswith(".npy")]) == 7  # base model + six trained
    again = run_demo(config, log=lambda message: None)
    # Nothing re-encoded: the cache was neither added to nor rewritten.
    assert _files_and_mtimes(config.output_dir / "embeddings") == embeddings
    assert again.judge_calls == 0
    assert sorted(again.reused_models) == sorted(f"{loss}-{labels}" for labels in ("human", "judge")
                                                 for loss in ("bixse", "infonce", "lsepair"))
    for name in first.comparison.names:
        assert again.comparison.result(name).aggregate == pytest.approx(first.comparison.result(name).aggregate)


def test_unknown_loss_is_refused_before_any_work(tiny_model_path, tmp_path):
    config = toy_config(tiny_model_path, tmp_path / "out").with_overrides(losses=("bixse", "nope"))
    with pytest.raises(InputError, match="unknown loss 'nope'"):
        run_demo(config, log=lambda message: None)
    assert not (tmp_path / "out").exists()


def test_report_names_the_cpu_and_the_precisions_that_ran(toy_run):
    config, result = toy_run
    report = result.report.read_text()
    assert "| precision (ran) | `" in report and "| eval_precision (ran) | `" in report
    assert "| cpu | " in report and " cores |" in report


def test_cpu_description_reads_the_matrix_extensions():
    from bixse.environment import describe_cpu

    xeon = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile\n"
    assert describe_cpu(xeon, cores=2) == "Intel(R) Xeon(R) Platinum 8480+ (AVX-512, AVX512-BF16, VNNI, AMX), 2 cores"
    epyc = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n"
    assert describe_cpu(epyc, cores=2) == "AMD EPYC 9R14 (AVX-512, AVX512-BF16, VNNI; no AMX), 2 cores"
    assert describe_cpu("model name\t: Old\nflags\t\t: fpu sse2\n", cores=4) == "Old (no AVX-512; no AMX), 4 cores"


@pytest.mark.parametrize("scale", ["cpu", "gpu"])
def test_every_preset_builds_each_of_its_losses(scale, tmp_path):
    """The GPU preset can't run here; its settings must at least make valid losses and runs."""
    from bixse.demo import PRESETS
    from bixse.demo.pipeline import check_config
    from bixse.demo.training import train_config
    from bixse.training.pipeline import check_loss

    preset = PRESETS[scale]
    check_config(preset)
    for loss in preset.losses:
        settings = train_config(preset, loss, tmp_path / "labels.jsonl", tmp_path / loss)
        loss_class, params = check_loss(settings)
        built = loss_class(None, **params)
        if loss in ("jointlh", "summarglh", "lsepair", "rand1lh"):
            assert (built.similarity, built.scale) == ("cosine", 20.0)  # InfoNCE's scale (the recipe)
        if loss == "bixse":
            assert built.bias.item() == -15.0


@pytest.mark.parametrize("options, baseline", [(["--losses", "bixse"], "bixse"),
                                               (["--losses", "bixse,lsepair"], "bixse"),
                                               (["--losses", "bixse,infonce"], "infonce"),
                                               (["--losses", "bixse,lsepair", "--baseline", "lsepair"], "lsepair"),
                                               ([], "infonce")])
def test_demo_cli_tests_against_a_trained_loss(options, baseline, monkeypatch, tmp_path):
    """`bixse demo --losses bixse` used to fail on the preset's infonce baseline, which no option set."""
    from typer.testing import CliRunner

    import bixse.demo
    from bixse.cli import app

    seen = {}

    def fake_run_demo(config, log):
        seen["config"] = config
        raise InputError("stop here")

    monkeypatch.setattr(bixse.demo, "run_demo", fake_run_demo)
    monkeypatch.setattr("bixse.cli.demo.run_demo", fake_run_demo)
    CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "out"), *options])
    assert seen["config"].baseline_loss == baseline
