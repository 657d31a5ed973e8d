"""TrainConfig from TOML, YAML and the command line (options override the file)."""

from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from bixse.cli import app
from bixse.errors import InputError
from bixse.training import TrainConfig, load_config, parse_loss_params
from bixse.training.config import field_names


def test_yaml_and_toml_give_the_same_config(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("loss: infonce\nbatch_size: 16\nlearning_rate: 5.0e-5\nloss_params: {scale: 30}\n")
    toml_file = tmp_path / "run.toml"
    toml_file.write_text('loss = "infonce"\nbatch_size = 16\nlearning_rate = 5e-5\n[loss_params]\nscale = 30\n')
    from_yaml, from_toml = load_config(yaml_file), load_config(toml_file)
    assert from_yaml == from_toml
    assert (from_yaml.loss, from_yaml.batch_size, from_yaml.learning_rate) == ("infonce", 16, 5e-5)
    assert from_yaml.loss_params == {"scale": 30}
    assert from_yaml.epochs == TrainConfig().epochs  # untouched fields keep their defaults


def test_unknown_setting_names_the_key_and_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lossname: bixse\n")
    with pytest.raises(InputError, match="unknown setting") as error:
        load_config(path)
    assert error.value.field == "lossname" and error.value.path == str(path)


@pytest.mark.parametrize(("values", "field"), [
    ({"batch_size": 0}, "batch_size"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"warmup_ratio": 1.0}, "warmup_ratio"), ({"precision": "int8"}, "precision"),
    ({"max_steps": 0}, "max_steps"), ({"hard_negatives": -1}, "hard_negatives"),
    ({"batch_size": "32"}, "batch_size"),
])
def test_bad_values_are_rejected_by_field(values, field):
    with pytest.raises(InputError) as error:
        TrainConfig(**values)
    assert error.value.field == field


def test_loss_params_parse_as_yaml_scalars():
    assert parse_loss_params(["scale=20", "learnable_bias=false", "similarity=dot", "bias=-1.5"]) == {
        "scale": 20, "learnable_bias": False, "similarity": "dot", "bias": -1.5}
    with pytest.raises(InputError, match="name=value"):
        parse_loss_params(["scale"])


def test_every_field_is_a_cli_option():
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    options = {"data": "--data", "output_dir": "--output", "loss_params": "--loss-param"}
    for name in field_names():
        assert options.get(name, "--" + name.replace("_", "-")) in result.output, name
    assert "Examples" in result.output


def test_cli_options_override_the_config_file(tmp_path, monkeypatch):
    path = tmp_path / "run.yaml"
    path.write_text("loss: infonce\nbatch_size: 16\nepochs: 2\nloss_params: {scale: 30, similarity: cosine}\n")
    seen = {}

    def fake_train(config, dataset=None):
        seen["config"] = config
        return tmp_path / "out"

    monkeypatch.setattr("bixse.training.pipeline.train", fake_train)
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--batch-size", "8", "-p", "scale=10",
                                      "--dev-split", "none", "--resume", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.loss, config.batch_size, config.epochs) == ("infonce", 8, 2)
    assert config.loss_params == {"scale": 10, "similarity": "cosine"}
    assert config.dev_split is None and config.resume is True
    assert config.output_dir == str(tmp_path / "out")



@pytest.mark.parametrize("loss", ["jointlh", "summarglh", "lsepair", "rand1lh"])
def test_recipe_gives_multi_positive_losses_infonce_scale(loss):
    from bixse.losses import LOSSES
    from bixse.training.pipeline import check_loss

    loss_class, params = check_loss(TrainConfig(loss=loss))
    built = loss_class(None, **params)
    assert (built.similarity, built.scale) == ("cosine", 20.0)
    # A configured value wins over the recipe; the class default (authors' dot, scale 1) is untouched.
    _, explicit = check_loss(TrainConfig(loss=loss, loss_params={"scale": 1.0, "similarity": "dot"}))
    assert (explicit["similarity"], explicit["scale"]) == ("dot", 1.0)
    assert (LOSSES[loss](None).similarity, LOSSES[loss](None).scale) == ("dot", 1.0)


def test_recipe_lsepair_value_is_twenty_times_cosine():
    from bixse.training.pipeline import check_loss

    loss_class, params = check_loss(TrainConfig(loss="lsepair"))
    query = torch.tensor([[1.0, 0.0]])
    docs = torch.tensor([[[2.0, 0.0], [1.0, 3.0**0.5]]])  # cosines 1.0 and 0.5 (dot products 2 and 1)
    labels = torch.tensor([[1.0, 0.0]])
    value = loss_class(None, **params).compute_loss_from_embeddings(query, docs, labels).item()
    assert value == pytest.approx(math.log1p(math.exp(20 * 0.5 - 20 * 1.0)), rel=1e-4)  # authors' dot: log(1 + e^-1)
