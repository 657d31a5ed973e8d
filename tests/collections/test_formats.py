"""Readers' happy paths and round trips: BEIR, TREC qrels/runs/folders, SMART."""

import pytest

from bixse.collections import Collection, Document, export, load, read_trec_qrels, read_trec_run, write_trec_qrels, write_trec_run
from bixse.collections.beir import read_corpus_jsonl, read_qrels_tsv
from bixse.collections.smart import read_smart_documents, read_smart_queries


def small_collection() -> Collection:
    corpus = {
        "d1": Document("d1", "Shock waves form at supersonic speed.", "Shock waves"),
        "d2": Document("d2", "Boundary layers & <separation> \"quoted\"", ""),
        "d3": Document("d3", "Heat transfer in slabs.\nSecond line.", "Heat"),
    }
    queries = {"q1": "what forms a shock wave", "q2": "heat conduction in slabs"}
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    return Collection("toy", corpus, queries, qrels, splits={"train": ("q1",), "test": ("q2",)})


@pytest.mark.parametrize("fmt", ["beir", "trec"])
def test_round_trip_small(tmp_path, fmt):
    original = small_collection()
    back = load(export(original, tmp_path / fmt, fmt))
    assert dict(back.corpus) == dict(original.corpus)
    assert dict(back.queries) == dict(original.queries)
    assert back.qrels == original.qrels
    assert dict(back.splits) == dict(original.splits)


@pytest.mark.parametrize("fmt", ["beir", "trec"])
def test_round_trip_cranfield(tmp_path, cranfield, fmt):
    back = load(export(cranfield, tmp_path / fmt, fmt))
    assert dict(back.corpus) == dict(cranfield.corpus)
    assert dict(back.queries) == dict(cranfield.queries)
    assert back.qrels == cranfield.qrels
    assert {k: set(v) for k, v in back.splits.items()} == {k: set(v) for k, v in cranfield.splits.items()}


def test_beir_reader_accepts_integer_ids_and_missing_title(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": 7, "text": "a text"}\n\n{"_id": "x", "title": "T", "text": ""}\n')
    corpus = read_corpus_jsonl(path)
    assert corpus["7"] == Document("7", "a text", "")
    assert corpus["x"].text == "T"  # a title-only document is searchable by its title


def test_beir_qrels_header_is_optional(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\t2\nq1\td2\t0\n")
    assert read_qrels_tsv(path) == {"q1": {"d1": 2, "d2": 0}}


def test_trec_qrels_and_run_round_trip(tmp_path):
    qrels = {"1": {"a": 3, "b": 0}, "2": {"c": 1}}
    assert read_trec_qrels(write_trec_qrels(tmp_path / "qrels.txt", qrels)) == qrels
    run = {"1": {"a": 0.5, "b": 2.25, "c": -1.0}}
    path = write_trec_run(tmp_path / "run.trec", run, tag="mine")
    lines = path.read_text().splitlines()
    assert lines[0] == "1 Q0 b 1 2.25 mine"  # highest score first, rank 1
    assert [line.split()[2] for line in lines] == ["b", "a", "c"]
    assert read_trec_run(path) == run


def test_smart_reader_joins_lines_and_numbers_queries():
    docs, empty = read_smart_documents(
        [".I 1", ".T", "a title", ".W", "first line", "  second   line", ".I 2", ".T", ".W"], "x")
    assert docs["1"] == Document("1", "first line second line", "a title")
    assert empty == ["2"]
    queries = read_smart_queries([".I 001", ".W", "q one", ".I 004", ".W", "q two"], "y", number_in_file_order=True)
    assert queries == {"1": "q one", "2": "q two"}


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    import os
    import stat

    from bixse.io import atomic_write

    with open(tmp_path / "plain.txt", "w") as handle:
        handle.write("x")
    with atomic_write(tmp_path / "atomic.txt") as handle:
        handle.write("x")
    mode = lambda name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)  # noqa: E731
    assert mode("atomic.txt") == mode("plain.txt")


def test_run_file_keeps_scores_that_differ_past_six_decimals(tmp_path):
    """trec_eval re-sorts by score, ties by doc id descending: six decimals would put 'a' above 'z'."""
    import numpy as np
    from bixse.evaluation.measures import evaluate_run

    run = {"1": {"z": float(np.float32(0.80000011)), "a": float(np.float32(0.8000002))}}
    back = read_trec_run(write_trec_run(tmp_path / "run.trec", run))
    assert back == run
    qrels = {"1": {"z": 1}}
    assert evaluate_run(back, qrels, ["RR@10"]).aggregate["RR@10"] == pytest.approx(0.5)


def test_a_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    """Windows editors start UTF-8 files with U+FEFF; read as text it would become id '\\ufeffq1'."""
    bom = "\ufeff"
    (tmp_path / "corpus.trec").write_text(bom + "<DOC><DOCNO>d1</DOCNO><TEXT>a</TEXT></DOC>\n", encoding="utf-8")
    (tmp_path / "topics.tsv").write_text(bom + "q1\thello\n", encoding="utf-8")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.txt").write_text(bom + "q1 0 d1 1\n", encoding="utf-8")
    collection = load(tmp_path)
    assert list(collection.queries) == ["q1"] and collection.qrels == {"q1": {"d1": 1}}
    qrels = tmp_path / "beir.tsv"
    qrels.write_text(bom + "query-id\tcorpus-id\tscore\nq1\td1\t2\n", encoding="utf-8")
    assert read_qrels_tsv(qrels) == {"q1": {"d1": 2}}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(bom + '{"_id": "d1", "text": "a"}\n', encoding="utf-8")
    assert list(read_corpus_jsonl(corpus)) == ["d1"]


def test_every_text_block_of_a_trec_document_is_read(tmp_path):
    """TREC disks (AP, FR) split long documents into several <TEXT> blocks."""
    from bixse.collections.trec import read_trec_corpus
    path = tmp_path / "corpus.trec"
    path.write_text("<DOC><DOCNO>d</DOCNO><TEXT>first part</TEXT>\n<TEXT></TEXT><TEXT> second part </TEXT></DOC>\n")
    assert read_trec_corpus(path)["d"].text == "first part\nsecond part"
