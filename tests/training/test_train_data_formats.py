"""`bixse train --data` from a Parquet file, a CSV file, a saved Hugging Face dataset folder or a hub dataset id."""

from __future__ import annotations

import pytest

from bixse.errors import InputError
from bixse.training import TrainConfig, train
from bixse.training.pipeline import CONFIG_FILE, prepare


def _saved(tmp_path, kind, toy_pairs_file):
    import json

    import datasets

    rows = datasets.Dataset.from_list([json.loads(line) for line in toy_pairs_file.read_text().splitlines()])
    if kind == "dataset":
        path = tmp_path / "toy-dataset"
        rows.save_to_disk(str(path))
    elif kind == "parquet":
        path = tmp_path / "toy.parquet"
        rows.to_parquet(str(path))
    else:
        path = tmp_path / "toy.csv"
        rows.to_csv(str(path), index=False)
    return path


@pytest.mark.parametrize("kind", ["dataset", "parquet", "csv"])
def test_trains_one_step_from_a_table_or_a_saved_dataset(tmp_path, tiny_model_path, toy_pairs_file, kind):
    data = _saved(tmp_path, kind, toy_pairs_file)
    config = TrainConfig(model=str(tiny_model_path), data=str(data), batch_size=4, max_steps=1, dev_split=None,
                         output_dir=str(tmp_path / "out"))
    folder = train(config)
    card = (folder / "README.md").read_text()
    assert f"source: file {data}" in card and "graded pairs: 18 labels over 6 queries" in card
    assert "data_sha256: " in (folder / CONFIG_FILE).read_text()
    assert prepare(config.replace(resume=True)).finished  # same data: the finished run is recognised


@pytest.fixture()
def fake_hub(monkeypatch, toy_pairs_file):
    """``datasets.load_dataset`` answering for one hub id, as it would with a network; a call log."""
    import json

    import datasets

    calls = []
    rows = datasets.Dataset.from_list([json.loads(line) for line in toy_pairs_file.read_text().splitlines()])

    def load_dataset(name, split=None, **kwargs):
        calls.append((name, split))
        if name != "org/graded-pairs":
            raise FileNotFoundError(f"Dataset '{name}' doesn't exist on the Hub or cannot be accessed.")
        if split != "train":
            raise ValueError(f'Unknown split "{split}". Should be one of [\'train\'].')
        return rows

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_trains_from_a_hub_dataset_id(tmp_path, tiny_model_path, fake_hub):
    config = TrainConfig(model=str(tiny_model_path), data="org/graded-pairs", batch_size=4, max_steps=1,
                         dev_split=None, output_dir=str(tmp_path / "out"))
    folder = train(config)
    card = (folder / "README.md").read_text()
    assert "source: hub dataset org/graded-pairs (split train)" in card
    assert "graded pairs: 18 labels over 6 queries" in card
    assert set(fake_hub) == {("org/graded-pairs", "train")}
    assert prepare(config.replace(resume=True)).finished  # the dataset's fingerprint is the data hash


@pytest.mark.parametrize(("data", "words"), [("org/missing", "doesn't exist on the Hub"),
                                             ("org/graded-pairs:dev", "Unknown split")])
def test_a_hub_dataset_that_cannot_load_is_one_error(tmp_path, fake_hub, data, words):
    with pytest.raises(InputError, match="cannot load the hub dataset") as error:
        train(TrainConfig(data=data, dev_split=None, output_dir=str(tmp_path / "out")))
    assert error.value.field == "data" and words in str(error.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("data", "expected"), [("org/name", ("org/name", "train")),
                                                ("org/name:test", ("org/name", "test")),
                                                ("data/pairs.jsonl", None), ("pairs", None), ("a/b/c", None)])
def test_what_counts_as_a_hub_dataset_id(data, expected):
    from bixse.collections.training_data import hub_dataset_id

    assert hub_dataset_id(data) == expected
