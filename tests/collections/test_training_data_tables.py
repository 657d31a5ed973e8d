"""Training data as CSV, Parquet or a saved Hugging Face dataset: the same pairs as the JSONL file,
validated row by row with the same located errors."""

from __future__ import annotations

import json

import pytest

from bixse.collections.training_data import read_training_file
from bixse.errors import InputError

RECORDS = [
    {"query_id": "1", "doc_id": "184", "score": 1.0, "grade": 3, "source": "human"},
    {"query": "what is a shock wave", "document": "A shock wave is a thin front.", "score": 0.25},
    {"query_id": "2", "document": "free text for a known query", "score": 0.0},
]


def write(tmp_path, kind, records):
    """``records`` in the container ``kind``; absent fields are empty cells / nulls."""
    import datasets
    import pyarrow
    import pyarrow.parquet

    columns = list(dict.fromkeys(key for record in records for key in record))
    table = {column: [record.get(column) for record in records] for column in columns}
    if kind == "jsonl":
        path = tmp_path / "pairs.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif kind == "csv":
        path = tmp_path / "pairs.csv"
        lines = [",".join(columns)] + [",".join("" if v is None else str(v) for v in (r.get(c) for c in columns))
                                       for r in records]
        path.write_text("\n".join(lines) + "\n")
    elif kind == "parquet":
        path = tmp_path / "pairs.parquet"
        pyarrow.parquet.write_table(pyarrow.table(table), path)
    else:
        path = tmp_path / "pairs-dataset"
        datasets.Dataset.from_dict(table).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("kind", ["csv", "parquet", "dataset"])
def test_tables_read_as_the_jsonl_file_does(tmp_path, cranfield, kind):
    expected = read_training_file(write(tmp_path, "jsonl", RECORDS), cranfield)
    assert read_training_file(write(tmp_path, kind, RECORDS), cranfield) == expected
    assert expected[0].document == cranfield.corpus["184"].full_text and expected[0].grade == 3


@pytest.mark.parametrize(("kind", "line"), [("csv", 3), ("parquet", 2), ("dataset", 2)])
@pytest.mark.parametrize(("bad", "field", "words"), [
    ({"query_id": "1", "doc_id": "184", "score": 1.5}, "score", "probability"),
    ({"query_id": "1", "doc_id": "no-such-doc", "score": 0.5}, "doc_id", "unknown document 'no-such-doc'"),
    ({"doc_id": "184", "score": 0.5}, "query", "needs 'query' or 'query_id'"),
], ids=["score", "unknown-id", "no-query"])
def test_a_bad_row_is_located_like_a_bad_line(tmp_path, cranfield, kind, line, bad, field, words):
    path = write(tmp_path, kind, [RECORDS[0], bad])
    with pytest.raises(InputError, match=words) as error:
        read_training_file(path, cranfield)
    assert (error.value.path, error.value.line, error.value.field) == (str(path), line, field)


def test_csv_rows_and_scores_that_do_not_parse(tmp_path, cranfield):
    path = tmp_path / "pairs.csv"
    path.write_text("query_id,doc_id,score\n1,184,high\n")
    with pytest.raises(InputError, match="expected a number in \\[0, 1\\], got 'high'") as error:
        read_training_file(path, cranfield)
    assert (error.value.line, error.value.field) == (2, "score")
    path.write_text("query_id,doc_id,score\n1,184,1.0\n1,29,0.5,extra\n")
    with pytest.raises(InputError, match="expected 3 fields as in the header, found 4") as error:
        read_training_file(path, cranfield)
    assert error.value.line == 3


def test_a_folder_that_is_not_one_saved_dataset(tmp_path, cranfield):
    import datasets

    with pytest.raises(InputError, match="not a saved Hugging Face dataset") as error:
        read_training_file(tmp_path, cranfield)
    assert error.value.path == str(tmp_path)
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"query": ["q"], "document": ["d"],
                                                                        "score": [1.0]})})
    splits.save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(InputError, match="DatasetDict with splits train: give the folder of one split"):
        read_training_file(tmp_path / "dict", cranfield)


def test_a_file_that_is_not_parquet(tmp_path, cranfield):
    path = tmp_path / "pairs.parquet"
    path.write_text("query,document,score\n")
    with pytest.raises(InputError, match="cannot read as Parquet") as error:
        read_training_file(path, cranfield)
    assert error.value.path == str(path)


def test_a_spreadsheet_csv_with_a_bom_and_float_grades(tmp_path, cranfield):
    path = tmp_path / "pairs.csv"
    path.write_text("query_id,doc_id,score,grade\n1,184,1.0,3.0\n1,29,0.5,\n", encoding="utf-8-sig")
    pairs = read_training_file(path, cranfield)
    assert [(p.query_id, p.doc_id, p.score, p.grade) for p in pairs] == [("1", "184", 1.0, 3), ("1", "29", 0.5, None)]
