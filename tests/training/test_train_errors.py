"""Bad input fails with a located InputError before any model is loaded or step computed."""

from __future__ import annotations

import json

import pytest

from bixse.errors import InputError
from bixse.training import TrainConfig, train


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
