"""Every reader rejects malformed input with an error naming the file, the line and the field."""

from pathlib import Path

import pytest

from bixse.collections import Document, load, read_trec_qrels, read_trec_run
from bixse.collections.beir import read_corpus_jsonl, read_qrels_tsv, read_queries_jsonl
from bixse.collections.model import Collection
from bixse.collections.trec import read_topics_tsv, read_trec_corpus
from bixse.collections.training_data import read_graded_pairs, read_multi_positive_groups
from bixse.collections.label_import import read_qrels_labels
from bixse.collections.validation import KnownIds
from bixse.errors import InputError
from bixse.evaluation.pipeline import read_qrels_file
from bixse.training.config import load_config

GOOD_PAIR = '{"query": "q", "document": "d", "score": 0.5}\n'
COLLECTION = Collection("toy", {"d1": Document("d1", "text")}, {"q1": "query"}, {"q1": {"d1": 1}})
KNOWN = KnownIds(queries={"q1"}, corpus={"d1"})

# (case id, file name, content, reader, expected line, expected field or None, words in message)
CASES = [
    ("corpus-bad-json", "corpus.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n', read_corpus_jsonl, 2, None, "invalid JSON"),
    ("corpus-not-object", "corpus.jsonl", '["_id", "1"]\n', read_corpus_jsonl, 1, None, "JSON object"),
    ("corpus-missing-id", "corpus.jsonl", '{"_id": "1", "text": "a"}\n{"text": "b"}\n', read_corpus_jsonl, 2, "_id", "missing id"),
    ("corpus-duplicate-id", "corpus.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n', read_corpus_jsonl, 2, "_id", "duplicate"),
    ("corpus-empty-text", "corpus.jsonl", '{"_id": "1", "title": "", "text": "   "}\n', read_corpus_jsonl, 1, "text", "empty text"),
    ("corpus-bool-id", "corpus.jsonl", '{"_id": true, "text": "a"}\n', read_corpus_jsonl, 1, "_id", "string or integer"),
    ("queries-empty-text", "queries.jsonl", '{"_id": "1", "text": ""}\n', read_queries_jsonl, 1, "text", "empty text"),
    ("queries-text-not-string", "queries.jsonl", '{"_id": "1", "text": 5}\n', read_queries_jsonl, 1, "text", "expected a string"),
    ("beir-qrels-grade-float", "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1.5\n", read_qrels_tsv, 2, "score", "integer"),
    ("beir-qrels-field-count", "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n", read_qrels_tsv, 2, None, "3 tab-separated"),
    ("beir-qrels-duplicate", "qrels.tsv", "q1\td1\t1\nq1\td1\t2\n", read_qrels_tsv, 2, "corpus-id", "duplicate"),
    ("beir-qrels-unknown-doc", "qrels.tsv", "q1\td1\t1\nq1\td9\t2\n", lambda p: read_qrels_tsv(p, KNOWN), 2, "corpus-id", "unknown document 'd9'"),
    ("beir-qrels-unknown-query", "qrels.tsv", "q7\td1\t1\n", lambda p: read_qrels_tsv(p, KNOWN), 1, "query-id", "unknown query 'q7'"),
    ("trec-qrels-grade-word", "qrels.txt", "1 0 a 2\n1 0 b high\n", read_trec_qrels, 2, "grade", "integer"),
    ("trec-qrels-field-count", "qrels.txt", "1 0 a\n", read_trec_qrels, 1, None, "4 fields"),
    ("trec-run-score-nan", "run.trec", "1 Q0 a 1 nan tag\n", read_trec_run, 1, "score", "finite"),
    ("trec-run-rank-word", "run.trec", "1 Q0 a one 1.0 tag\n", read_trec_run, 1, "rank", "integer"),
    ("trec-run-duplicate", "run.trec", "1 Q0 a 1 2.0 t\n1 Q0 a 2 1.0 t\n", read_trec_run, 2, "docid", "twice"),
    ("trec-corpus-duplicate", "corpus.trec", "<DOC><DOCNO>1</DOCNO><TEXT>a</TEXT></DOC>\n<DOC><DOCNO>1</DOCNO><TEXT>b</TEXT></DOC>\n", read_trec_corpus, 2, "DOCNO", "duplicate"),
    ("trec-corpus-unclosed-doc", "corpus.trec", "<DOC><DOCNO>1</DOCNO><TEXT>a</TEXT></DOC>\n<DOC><DOCNO>2</DOCNO><TEXT>b</TEXT>\n<DOC><DOCNO>3</DOCNO><TEXT>c</TEXT></DOC>\n", read_trec_corpus, 2, "DOC", "no </DOC>"),
    ("trec-corpus-unclosed-last-doc", "corpus.trec", "<DOC><DOCNO>1</DOCNO><TEXT>a</TEXT></DOC>\n\n<DOC><DOCNO>2</DOCNO>\n<TEXT>b</TEXT>\n", read_trec_corpus, 3, "DOC", "end of the file"),
    ("trec-corpus-stray-close", "corpus.trec", "<DOC><DOCNO>1</DOCNO><TEXT>a</TEXT></DOC>\n</DOC>\n", read_trec_corpus, 2, "DOC", "without an opening"),
    ("trec-corpus-two-docnos", "corpus.trec", "<DOC><DOCNO>1</DOCNO>\n<DOCNO>2</DOCNO><TEXT>a</TEXT></DOC>\n", read_trec_corpus, 1, "DOCNO", "2 <DOCNO>"),
    ("topics-empty-text", "topics.tsv", "1\tok\n2\t \n", read_topics_tsv, 2, "text", "empty text"),
    ("pairs-score-above-one", "pairs.jsonl", GOOD_PAIR + '{"query": "q", "document": "d", "score": 1.5}\n', read_graded_pairs, 2, "score", "[0, 1]"),
    ("pairs-score-nan", "pairs.jsonl", '{"query": "q", "document": "d", "score": NaN}\n', read_graded_pairs, 1, "score", "[0, 1]"),
    ("pairs-score-string", "pairs.jsonl", '{"query": "q", "document": "d", "score": "0.5"}\n', read_graded_pairs, 1, "score", "number"),
    ("pairs-missing-score", "pairs.jsonl", '{"query": "q", "document": "d"}\n', read_graded_pairs, 1, "score", "missing"),
    ("pairs-grade-float", "pairs.jsonl", '{"query": "q", "document": "d", "score": 0.5, "grade": 2.5}\n', read_graded_pairs, 1, "grade", "integer"),
    ("pairs-empty-document", "pairs.jsonl", '{"query": "q", "document": " ", "score": 0.5}\n', read_graded_pairs, 1, "document", "empty text"),
    ("pairs-no-query", "pairs.jsonl", '{"document": "d", "score": 0.5}\n', read_graded_pairs, 1, "query", "needs"),
    ("pairs-unknown-doc-id", "pairs.jsonl", '{"query_id": "q1", "doc_id": "d9", "score": 0.5}\n', lambda p: read_graded_pairs(p, COLLECTION), 1, "doc_id", "unknown document"),
    ("pairs-id-without-collection", "pairs.jsonl", '{"query_id": "q1", "document": "d", "score": 0.5}\n', read_graded_pairs, 1, "query_id", "no collection"),
    ("pairs-text-with-unknown-id-checked", "pairs.jsonl", '{"query_id": "nope", "query": "q", "doc_id": "d1", "document": "d", "score": 1}\n', lambda p: read_graded_pairs(p, COLLECTION, check_ids=True), 1, "query_id", "unknown query 'nope'"),
    ("groups-no-positive", "groups.jsonl", '{"query": "q", "positives": [], "negatives": [{"document": "n"}]}\n', read_multi_positive_groups, 1, "positives", "at least one"),
    ("groups-bad-member-score", "groups.jsonl", '{"query": "q", "positives": [{"document": "p", "score": -0.1}]}\n', read_multi_positive_groups, 1, "positives[0].score", "[0, 1]"),
]


@pytest.mark.parametrize(("name", "file_name", "content", "reader", "line", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_located(tmp_path: Path, name, file_name, content, reader, line, field, words):
    path = tmp_path / file_name
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        reader(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert words in error.message
    assert f"{path}:{line}" in str(error)


def test_unknown_ids_can_be_dropped_and_counted(tmp_path, caplog):
    path = tmp_path / "qrels.tsv"
    path.write_text("q1\td1\t1\nq1\td9\t2\nq8\td1\t1\n")
    known = KnownIds(queries={"q1"}, corpus={"d1"}, unknown_ids="drop")
    assert read_qrels_tsv(path, known) == {"q1": {"d1": 1}}
    assert known.dropped == 2
    assert "dropped 2 line(s)" in caplog.text


def test_beir_folder_without_qrels_is_rejected(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "text": "a"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": "q"}\n')
    with pytest.raises(InputError, match="no qrels"):
        load(tmp_path)


@pytest.mark.parametrize(("layout", "train", "test", "field"), [
    ("trec", ("qrels/train.txt", "q1 0 d1 1\n"), ("qrels/test.txt", "q1 0 d2 1\n"), "qid"),
    ("beir", ("qrels/train.tsv", "q1\td1\t1\n"), ("qrels/test.tsv", "q1\td2\t1\n"), "query-id"),
])
def test_a_query_judged_in_two_splits_is_rejected(tmp_path, layout, train, test, field):
    """Otherwise it sits in train and test, and one split's judgements replace the other's."""
    if layout == "trec":
        (tmp_path / "corpus.trec").write_text("<DOC><DOCNO>d1</DOCNO><TEXT>a</TEXT></DOC>\n<DOC><DOCNO>d2</DOCNO><TEXT>b</TEXT></DOC>\n")
        (tmp_path / "topics.tsv").write_text("q1\tquery\n")
    else:
        (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n')
        (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "query"}\n')
    (tmp_path / "qrels").mkdir()
    for name, content in (train, test):
        (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match="judged in two splits") as caught:
        load(tmp_path)
    assert caught.value.field == field
    assert caught.value.path == str(tmp_path / train[0])  # sorted: test first, then train repeats q1


def test_export_refuses_a_folder_holding_a_collection(tmp_path, cranfield):
    """A stale corpus.jsonl would win over the new corpus.trec when the folder is loaded."""
    from bixse.collections import export
    export(cranfield, tmp_path / "out", "beir")
    with pytest.raises(InputError, match="already holds a collection") as caught:
        export(cranfield, tmp_path / "out", "trec")
    assert caught.value.field == "output"
    assert not (tmp_path / "out" / "corpus.trec").exists()


def test_all_zero_judgements_have_no_graded_scale():
    from bixse.collections import qrels_to_graded_pairs
    unjudged = Collection("zeros", {"d1": Document("d1", "text")}, {"q1": "query"}, {"q1": {"d1": 0}},
                          splits={"train": ("q1",)})
    with pytest.raises(InputError, match="no relevant judgement"):
        qrels_to_graded_pairs(unjudged, "train")


def test_unknown_collection_name():
    with pytest.raises(InputError, match="cranfield"):
        load("no-such-collection")


def test_atomic_writer_leaves_no_partial_file(tmp_path):
    from bixse.io import atomic_write

    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


# (reader, file name, two lines: a valid one, then one with a byte that is not UTF-8)
UTF8_CASES = [
    (read_corpus_jsonl, "corpus.jsonl", b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "caf\xe9"}\n'),
    (read_queries_jsonl, "queries.jsonl", b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "\xff"}\n'),
    (read_qrels_tsv, "qrels.tsv", b"q1\td1\t1\nq\xff\td1\t1\n"),
    (read_trec_qrels, "qrels.txt", b"1 0 a 2\n1 0 b\xc3 1\n"),
    (read_trec_run, "run.trec", b"1 Q0 a 1 1.0 t\n1 Q0 \x80 2 0.5 t\n"),
    (read_trec_corpus, "corpus.trec", b"<DOC><DOCNO>1</DOCNO><TEXT>a</TEXT></DOC>\n<DOC><DOCNO>2</DOCNO><TEXT>\xfe</TEXT></DOC>\n"),
    (read_topics_tsv, "topics.tsv", b"1\tok\n2\t\xff\n"),
    (read_graded_pairs, "pairs.jsonl", GOOD_PAIR.encode() + b'{"query": "\xff", "document": "d", "score": 0.5}\n'),
    (lambda p: read_qrels_labels(p, COLLECTION, max_grade=1), "labels.txt", b"q1 0 d1 1\nq1 0 d\xff 1\n"),
    (read_qrels_file, "qrels.txt", b"1 0 a 2\n1 0 \xff 1\n"),
    (load_config, "train.yaml", b"loss: bixse\nmodel: caf\xe9\n"),
]


@pytest.mark.parametrize(("reader", "file_name", "content"), UTF8_CASES, ids=[c[1] + "-" + str(i) for i, c in enumerate(UTF8_CASES)])
def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path, reader, file_name, content):
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(InputError, match="not valid UTF-8") as caught:
        reader(path)
    assert (caught.value.path, caught.value.line) == (str(path), 2)
    assert f"{path}:2" in str(caught.value)


def test_atomic_writer_refuses_a_folder_or_a_file_as_parent(tmp_path):
    from bixse.io import atomic_write

    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="is a directory") as caught:
        with atomic_write(tmp_path / "folder"):
            pass
    assert (caught.value.path, caught.value.field) == (str(tmp_path / "folder"), "output")
    (tmp_path / "file").write_text("kept")
    with pytest.raises(InputError, match="not a folder") as caught:
        with atomic_write(tmp_path / "file" / "inner" / "out.txt"):
            pass
    assert caught.value.path == str(tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
    assert list((tmp_path / "folder").iterdir()) == []
