"""Bad input fails with a located InputError before any model is loaded or step computed."""

from __future__ import annotations

import json

import pytest

from bixse.errors import InputError
from bixse.training import TrainConfig, train
from bixse.training.pipeline import run as real_run  # taken before the fixture below replaces it


@pytest.fixture(autouse=True)
def no_compute(monkeypatch):
    """Any attempt to train (or even load a model) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input was invalid")

    monkeypatch.setattr("bixse.training.pipeline.run", refuse)
    monkeypatch.setattr("sentence_transformers.SentenceTransformer.__init__", refuse)


def _config(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(output_dir=str(tmp_path / "out"), dev_split=None, **changes)


def test_unknown_loss_lists_the_known_ones(tmp_path):
    with pytest.raises(InputError, match="unknown loss 'bixes'.*bixse.*infonce") as error:
        train(_config(tmp_path, loss="bixes"))
    assert error.value.field == "loss"


def test_unknown_loss_parameter(tmp_path):
    with pytest.raises(InputError, match="does not take these parameters.*it takes: scale") as error:
        train(_config(tmp_path, loss="bixse", loss_params={"temperature": 0.05}))
    assert error.value.field == "loss_params"


def test_invalid_loss_parameter_value(tmp_path):
    with pytest.raises(InputError, match="loss 'bixse'.*must be positive") as error:
        train(_config(tmp_path, loss="bixse", loss_params={"scale": -1}))
    assert error.value.field.startswith("loss_params")


@pytest.mark.parametrize("changes", [{"loss": "infonce"}, {"loss": "bixse", "loss_params": {"learnable_bias": False}}])
def test_a_loss_learning_rate_needs_a_loss_with_parameters_of_its_own(tmp_path, changes):
    """Ignored, it would still be printed on the model card as the loss's rate."""
    with pytest.raises(InputError, match="has none") as error:
        train(_config(tmp_path, loss_learning_rate=0.05, **changes))
    assert error.value.field == "loss_learning_rate"


def test_multi_positive_loss_on_single_pairs(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "document": f"d{i}", "score": 1.0}) + "\n" for i in range(4)))
    with pytest.raises(InputError, match="single labelled document.*infonce") as error:
        train(_config(tmp_path, loss="jointlh", data=str(data)))
    assert error.value.field == "loss"


def test_missing_column_in_a_rows_file(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"query": "q", "document_0": "d"}) + "\n")
    with pytest.raises(InputError, match="missing column") as error:
        train(_config(tmp_path, data=str(data)))
    assert (error.value.path, error.value.line, error.value.field) == (str(data), 1, "label")


def test_missing_column_in_a_dataset_given_in_code(tmp_path):
    from datasets import Dataset

    rows = Dataset.from_dict({"query": ["q"], "positive": ["d"], "label": [[1.0]]})
    with pytest.raises(InputError, match="missing column") as error:
        train(_config(tmp_path), dataset=rows)
    assert error.value.field == "document_0"


def test_unreadable_model_path_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError, match="model folder does not exist") as error:
        train(_config(tmp_path, model=str(missing)))
    assert error.value.path == str(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="not a model folder") as error:
        train(_config(tmp_path, model=str(empty)))
    assert error.value.path == str(empty)


def test_missing_training_file(tmp_path):
    with pytest.raises(InputError, match="training file not found") as error:
        train(_config(tmp_path, data=str(tmp_path / "nope.jsonl")))
    assert error.value.field == "data"


def test_unknown_split_of_the_collection(tmp_path):
    with pytest.raises(InputError, match="no split 'validation'"):
        train(_config(tmp_path, split="validation"))


def test_output_folder_holding_a_run_needs_resume_or_overwrite(tmp_path):
    config = _config(tmp_path)
    (tmp_path / "out" / "checkpoints").mkdir(parents=True)
    with pytest.raises(InputError, match="--resume .* --overwrite"):
        train(config)


def test_resume_refuses_a_run_started_with_other_values(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    (out / "bixse-train-config.yaml").write_text(f"loss: infonce\nbatch_size: 8\noutput_dir: {out}\n")
    with pytest.raises(InputError, match="other values of loss, batch_size"):
        train(_config(tmp_path, loss="bixse", batch_size=32, resume=True))


def test_cli_reports_input_errors_with_exit_code_2(bixse_cli):
    result = bixse_cli("train", "--loss", "no-such-loss", "--dev-split", "none")
    assert result.returncode == 2
    assert "unknown loss 'no-such-loss'" in result.stderr


def test_unknown_dev_split_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no split 'dve' .*known: train, dev, test") as error:
        train(_config(tmp_path).replace(dev_split="dve"))
    assert error.value.field == "dev_split"
    assert not (tmp_path / "out").exists()


def _beir_folder(folder, splits=("train", "test")):
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": f"text {i}"}) + "\n"
                                                 for i in range(4)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n"
                                                  for i in range(4)))
    (folder / "qrels").mkdir()
    for index, split in enumerate(splits):
        rows = "".join(f"q{q}\td{d}\t{1 + d % 2}\n" for q in (2 * index, 2 * index + 1) for d in range(4))
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


def test_default_dev_split_may_be_absent_but_a_named_one_may_not(tmp_path):
    from bixse.training.pipeline import prepare

    folder = _beir_folder(tmp_path / "beir")
    config = TrainConfig(collection=str(folder), output_dir=str(tmp_path / "out"))
    assert config.dev_split == "dev" and prepare(config).dev_collection is None
    with pytest.raises(InputError, match="no split 'validation'") as error:
        prepare(config.replace(dev_split="validation"))
    assert error.value.field == "dev_split"
    assert prepare(config.replace(dev_split="test")).dev_collection is not None


def _started_run(config: TrainConfig) -> None:
    """The output folder of a run that started with ``config``: its resolved config and log."""
    from bixse.training.pipeline import LOG_FILE, prepare, write_resolved_config

    write_resolved_config(prepare(config), world=1)
    (config.output_path / LOG_FILE).write_text("")


def test_resume_refuses_a_changed_data_file(tmp_path):
    from bixse.training.pipeline import CONFIG_FILE, prepare

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "document": f"d{i}", "score": 1.0}) + "\n"
                            for i in range(4)))
    config = _config(tmp_path, data=str(data))
    _started_run(config)
    recorded = (config.output_path / CONFIG_FILE).read_text()
    assert "data_sha256: " in recorded
    assert prepare(config.replace(resume=True)).resume_from is None  # same data: resumes

    data.write_text(data.read_text().replace('"score": 1.0', '"score": 0.5', 1))
    with pytest.raises(InputError, match="changed since the run .* started") as error:
        train(config.replace(resume=True))
    assert (error.value.field, error.value.path) == ("data", str(data))
    # A run folder from before fingerprints were recorded still resumes.
    (config.output_path / CONFIG_FILE).write_text(
        "".join(line + "\n" for line in recorded.splitlines() if not line.startswith("data_sha256")))
    prepare(config.replace(resume=True))


def test_resume_refuses_another_number_of_processes(tmp_path, monkeypatch):
    """A run started on 2 processes has a global batch of 2 x batch_size: resumed on 1 it would differ."""
    from bixse.training.pipeline import CONFIG_FILE, LOG_FILE, prepare, write_resolved_config

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "document": f"d{i}", "score": 1.0}) + "\n"
                            for i in range(4)))
    config = _config(tmp_path, data=str(data))
    write_resolved_config(prepare(config), world=2)
    (config.output_path / LOG_FILE).write_text("")
    assert "\nprocesses: 2\n" in (config.output_path / CONFIG_FILE).read_text()
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(InputError, match="started on 2 process") as error:
        prepare(config.replace(resume=True))
    assert error.value.field == "processes"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert prepare(config.replace(resume=True)).resume_from is None  # as many: resumes


def test_resume_refuses_changed_qrels_of_the_training_split(tmp_path):
    folder = _beir_folder(tmp_path / "beir")
    config = _config(tmp_path, collection=str(folder))
    _started_run(config)
    qrels = folder / "qrels" / "train.tsv"
    qrels.write_text(qrels.read_text().replace("q0\td0\t1", "q0\td0\t2"))
    with pytest.raises(InputError, match="qrels of collection '.*beir', split 'train' changed") as error:
        train(config.replace(resume=True))
    assert error.value.field == "data"


def test_a_resolved_config_is_a_valid_config_file(tmp_path):
    from bixse.training import load_config
    from bixse.training.pipeline import CONFIG_FILE

    config = _config(tmp_path)
    _started_run(config)
    assert load_config(config.output_path / CONFIG_FILE) == config


def test_a_model_that_fails_to_load_leaves_the_output_folder_untouched(tmp_path):
    from bixse.training.pipeline import prepare

    # SentenceTransformer(...) raises here (the fixture above), like a broken model folder.
    fresh = prepare(_config(tmp_path, data=None))
    with pytest.raises(AssertionError, match="training started"):
        real_run(fresh)
    assert not (tmp_path / "out").exists()
    # --overwrite of an earlier run: nothing of it is cleared before the new model has loaded.
    (tmp_path / "out" / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "out" / "training_log.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(AssertionError, match="training started"):
        real_run(prepare(_config(tmp_path, overwrite=True)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoints", "training_log.jsonl"]


def test_a_folder_with_files_but_no_bixse_run_is_not_written_into(tmp_path):
    from bixse.training.pipeline import prepare

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README.md").write_text("my notes")
    for changes in ({}, {"resume": True}):
        with pytest.raises(InputError, match="holds files but no bixse training run") as error:
            train(_config(tmp_path, **changes))
        assert (error.value.field, error.value.path) == ("output_dir", str(tmp_path / "out"))
    assert (tmp_path / "out" / "README.md").read_text() == "my notes"
    assert prepare(_config(tmp_path, overwrite=True)).resume_from is None  # asked for: allowed
    (tmp_path / "out" / "README.md").unlink()
    prepare(_config(tmp_path))  # an empty folder is fine


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"load_best_model_at_end": True}, "load_best_model_at_end", "eval_steps > 0 and a dev_split"),
    ({"load_best_model_at_end": True, "eval_steps": 3}, "checkpoint_steps", "multiple of"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps", "positive integer"),
    ({"report_to": "mlflow"}, "report_to", "none, tensorboard, wandb"),
    ({"device": "tpu"}, "device", "cpu, cuda"),
    ({"push_to_hub": " "}, "push_to_hub", "hub repo id"),
], ids=["best-without-eval", "best-checkpoint-steps", "accumulation", "report-to", "device", "push-to-hub"])
def test_trainer_pass_through_settings_are_checked(tmp_path, changes, field, words):
    with pytest.raises(InputError, match=words) as error:
        train(TrainConfig(output_dir=str(tmp_path / "out"), **changes))
    assert error.value.field == field


def test_keeping_the_best_checkpoint_needs_a_dev_split_of_the_collection(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "out"), eval_steps=1, checkpoint_steps=1,
                         load_best_model_at_end=True, dev_split="validation")
    with pytest.raises(InputError, match="no split 'validation'") as error:
        train(config)
    assert error.value.field == "dev_split"


def test_services_the_trainer_needs_are_checked_before_the_model_loads(tmp_path, monkeypatch):
    import importlib.util

    import torch
    from huggingface_hub import constants

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        with pytest.raises(InputError, match="needs the tensorboard package") as error:
            train(_config(tmp_path, report_to="tensorboard"))
        assert error.value.field == "report_to"
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device") as error:
            train(_config(tmp_path, device="cuda"))
        assert error.value.field == "device"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="HF_HUB_OFFLINE is set") as error:
        train(_config(tmp_path, push_to_hub="me/model"))
    assert error.value.field == "push_to_hub"
