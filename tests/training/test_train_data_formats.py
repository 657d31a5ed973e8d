"""`bixse train --data` from a Parquet file, a CSV file or a saved Hugging Face dataset folder."""

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


def test_a_hub_dataset_name_is_not_fetched(tmp_path):
    with pytest.raises(InputError, match="hub dataset name is not fetched") as error:
        train(TrainConfig(data="org/some-dataset", dev_split=None, output_dir=str(tmp_path / "out")))
    assert error.value.field == "data"
    assert not (tmp_path / "out").exists()
