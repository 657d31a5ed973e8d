"""Rows in the one training layout, per loss layout, on a toy input whose rows are written out by hand."""

from __future__ import annotations

import json

import pytest

from bixse.collections.training_data import GradedPair, MultiPositiveGroup, ScoredDocument
from bixse.errors import InputError
from bixse.training.dataset import build_rows, check_row, read_layout_file

# q1 judges three documents, q2 one; "d1" and "shared" are ids, texts are "text ..."
PAIRS = [
    GradedPair("q1 text", "text d1", 1.0, "q1", "d1"),
    GradedPair("q1 text", "text d2", 0.5, "q1", "d2"),
    GradedPair("q1 text", "text d3", 0.0, "q1", "d3"),
    GradedPair("q2 text", "text d4", 0.75, "q2", "d4"),
]


def _rows(built):
    """The built columns as a list of row dicts, for exact comparison."""
    columns = built.columns
    return [{name: values[i] for name, values in columns.items()} for i in range(built.num_rows)]


def test_pointwise_every_pair_is_a_row_with_lowest_scored_hard_negatives():
    built = build_rows(PAIRS, "pointwise", loss="bixse", hard_negatives=1)
    assert built.slots == 2
    assert _rows(built) == [
        {"query": "q1 text", "document_0": "text d1", "document_1": "text d3", "label": [1.0, 0.0]},
        {"query": "q1 text", "document_0": "text d2", "document_1": "text d3", "label": [0.5, 0.0]},
        {"query": "q1 text", "document_0": "text d3", "document_1": "text d2", "label": [0.0, 0.5]},
        {"query": "q2 text", "document_0": "text d4", "document_1": "", "label": [0.75, -1.0]},
    ]


def test_pointwise_without_hard_negatives_has_one_slot():
    built = build_rows(PAIRS, "pointwise", loss="bixse")
    assert list(built.columns) == ["query", "document_0", "label"]
    assert built.columns["label"] == [[1.0], [0.5], [0.0], [0.75]]


def test_contrastive_rows_are_the_positives_with_low_scored_negatives():
    built = build_rows(PAIRS, "contrastive", loss="infonce", hard_negatives=2, positive_threshold=0.5)
    assert _rows(built) == [
        {"query": "q1 text", "document_0": "text d1", "document_1": "text d3", "document_2": "", "label": [1.0, 0.0, -1.0]},
        {"query": "q1 text", "document_0": "text d2", "document_1": "text d3", "document_2": "", "label": [0.5, 0.0, -1.0]},
        {"query": "q2 text", "document_0": "text d4", "document_1": "", "document_2": "", "label": [0.75, -1.0, -1.0]},
    ]


def test_contrastive_threshold_moves_pairs_out_of_the_positives():
    built = build_rows(PAIRS, "contrastive", loss="infonce", hard_negatives=1, positive_threshold=0.8)
    assert built.columns["document_0"] == ["text d1"]
    assert built.columns["label"] == [[1.0, 0.0]]  # d3 (0.0) is the lowest of d2, d3
    assert built.dropped_queries == 1  # q2 has no positive at 0.8


def test_list_layouts_one_row_per_query_highest_first_padded():
    built = build_rows(PAIRS, "multi_positive", loss="jointlh")
    assert _rows(built) == [
        {"query": "q1 text", "document_0": "text d1", "document_1": "text d2", "document_2": "text d3",
         "label": [1.0, 0.5, 0.0]},
        {"query": "q2 text", "document_0": "text d4", "document_1": "", "document_2": "", "label": [0.75, -1.0, -1.0]},
    ]
    capped = build_rows(PAIRS, "multi_positive", loss="jointlh", max_candidates=2)
    assert capped.columns["label"] == [[1.0, 0.5], [0.75, -1.0]]


def test_scored_list_keeps_queries_with_a_score_difference():
    built = build_rows(PAIRS, "scored_list", loss="ranknet")
    assert built.columns["query"] == ["q1 text"]  # q2's single document gives no pair to rank
    assert built.columns["label"] == [[1.0, 0.5, 0.0]]


def test_groups_become_candidates_and_duplicates_count_once():
    groups = [MultiPositiveGroup("q", (ScoredDocument("p1", 1.0, "a"), ScoredDocument("p2", 0.75, "b")),
                                 (ScoredDocument("n1", 0.0, "c"), ScoredDocument("p1 again", 0.2, "a")))]
    built = build_rows(groups, "pointwise", loss="bixse")
    assert built.columns["document_0"] == ["p1", "p2", "n1"]  # the second label of id "a" is ignored
    assert built.columns["label"] == [[1.0], [0.75], [0.0]]


def test_multi_positive_loss_on_single_pairs_is_an_error():
    single = [GradedPair(f"q{i}", f"d{i}", 1.0) for i in range(3)]
    with pytest.raises(InputError, match="single labelled document") as error:
        build_rows(single, "multi_positive", loss="jointlh")
    assert error.value.field == "loss" and "infonce" in str(error.value)


def test_multi_positive_without_any_positive_is_an_error():
    low = [GradedPair("q", "a", 0.25), GradedPair("q", "b", 0.0)]
    with pytest.raises(InputError, match="positive threshold"):
        build_rows(low, "multi_positive", loss="lsepair")


def test_contrastive_without_positives_is_an_error():
    with pytest.raises(InputError, match="no label .* reaches the positive threshold 0.5"):
        build_rows([GradedPair("q", "a", 0.25)], "contrastive", loss="infonce", origin="labels.jsonl")


def test_scored_list_without_score_differences_is_an_error():
    flat = [GradedPair("q", "a", 0.5), GradedPair("q", "b", 0.5), GradedPair("r", "c", 1.0)]
    with pytest.raises(InputError, match="two documents with different scores"):
        build_rows(flat, "scored_list", loss="ranknet")


# --- ready-made rows ---------------------------------------------------------------------------

def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_layout_file_is_read_as_is(tmp_path):
    rows = [{"query": "q", "document_0": "a", "document_1": "", "label": [1.0, -1.0]},
            {"query": "r", "document_0": "b", "document_1": "c", "label": [0.5, 0.0]}]
    built = read_layout_file(_write(tmp_path / "rows.jsonl", rows), "pointwise", "bixse")
    assert built.slots == 2 and built.num_rows == 2
    assert built.columns["document_1"] == ["", "c"]


@pytest.mark.parametrize(("row", "field", "message"), [
    ({"document_0": "a", "label": [1.0]}, "query", "missing column"),
    ({"query": "q", "document_0": "a"}, "label", "missing column"),
    ({"query": "q", "document_0": "a", "label": [1.0, 0.0]}, "document_1", "missing column"),
    ({"query": "q", "document_0": "a", "label": [1.5]}, "label[0]", r"neither in \[0, 1\]"),
    ({"query": "q", "document_0": "", "label": [1.0]}, "document_0", "empty document"),
    ({"query": "q", "document_0": "a", "document_1": "b", "label": [1.0]}, "label", "no score"),
])
def test_layout_file_errors_name_line_and_column(tmp_path, row, field, message):
    slots = len(row.get("label", [1.0]))
    good = {"query": "q0", **{f"document_{s}": "x" for s in range(slots)}, "label": [1.0] * slots}
    path = _write(tmp_path / "rows.jsonl", [good, row])
    with pytest.raises(InputError, match=message) as error:
        read_layout_file(path, "pointwise", "bixse")
    assert (error.value.line, error.value.field, error.value.path) == (2, field, str(path))


def test_layout_rows_must_share_their_slot_count():
    check_row({"query": "q", "document_0": "a", "label": [1.0]}, None)
    with pytest.raises(InputError, match="2 scores where earlier rows have 1"):
        check_row({"query": "q", "document_0": "a", "document_1": "b", "label": [1.0, 0.0]}, 1)


def test_layout_file_with_one_slot_is_wrong_for_a_multi_positive_loss(tmp_path):
    path = _write(tmp_path / "rows.jsonl", [{"query": "q", "document_0": "a", "label": [1.0]}])
    with pytest.raises(InputError, match="several candidate documents"):
        read_layout_file(path, "multi_positive", "summarglh")
