"""Bad input through the real command line: exit status 2, one line naming the file and line or
the option, no traceback, and nothing left behind where an output was asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bixse.collections import load

REPO = Path(__file__).resolve().parents[2]
INVALID_UTF8 = b"\xff\xfe"


def bixse(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bixse", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_input_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, no traceback, and one ``error:`` line holding every word; return that line."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def beir_folder(folder: Path, corpus: bytes | None = None, queries: bytes | None = None,
                qrels: bytes | None = None) -> Path:
    """A three-document BEIR folder; any file can be replaced by raw bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "corpus.jsonl").write_bytes(corpus if corpus is not None else b"".join(
        json.dumps({"_id": f"d{i}", "title": f"title {i}", "text": f"heat transfer text {i}"}).encode() + b"\n"
        for i in range(3)))
    (folder / "queries.jsonl").write_bytes(queries if queries is not None else
                                           b'{"_id": "q1", "text": "heat"}\n{"_id": "q2", "text": "text"}\n')
    (folder / "qrels" / "test.tsv").write_bytes(qrels if qrels is not None else
                                                b"query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t2\n")
    return folder


def write_run(path: Path, query_ids, prefix: str = "") -> Path:
    """A TREC run retrieving one relevant Cranfield document for each query, ids given a prefix."""
    path.write_text("".join(f"{prefix}{q} Q0 {doc} 1 1.0 tag\n"
                            for q in query_ids for doc in list(load("cranfield").qrels[q])[:1]))
    return path


# --- 1. a run whose query ids do not match the qrels ----------------------------------------

def test_run_sharing_no_query_with_the_qrels_is_an_error(tmp_path):
    test_ids = load("cranfield").query_ids("test")
    run = write_run(tmp_path / "prefixed.trec", test_ids, prefix="q")
    result = bixse("eval", "--run", run, "-o", tmp_path / "out")
    assert_input_error(result, str(run), "field 'run'", "no query id", "75")
    assert not (tmp_path / "out").exists()


def test_run_covering_some_queries_is_scored_with_a_warning(tmp_path):
    test_ids = load("cranfield").query_ids("test")
    run = write_run(tmp_path / "partial.trec", test_ids[:18])
    result = bixse("eval", "--run", run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run covers 18 of 75 queries" in result.stderr
    assert "partial.trec" in result.stderr


# --- 2. a mistyped dev split ------------------------------------------------------------------

def test_unknown_dev_split_is_an_error_before_the_model_loads(tmp_path, tiny_model_path):
    result = bixse("train", "-m", tiny_model_path, "--max-steps", "1", "--dev-split", "dve",
                   "-o", tmp_path / "out")
    assert_input_error(result, "field 'dev_split'", "'dve'", "known: train, dev, test")
    assert not (tmp_path / "out").exists()


# --- 3. resuming on changed data ---------------------------------------------------------------

def test_resume_on_changed_data_file_is_refused(tmp_path, tiny_model_path):
    from bixse.training import TrainConfig
    from bixse.training.pipeline import LOG_FILE, prepare, write_resolved_config

    data = tmp_path / "pairs.jsonl"
    data.write_text('{"query_id": "1", "doc_id": "184", "score": 1.0}\n{"query_id": "2", "doc_id": "12", '
                    '"score": 0.5}\n')
    output = tmp_path / "out"
    args = ["train", "-m", tiny_model_path, "--data", data, "--max-steps", "2", "--dev-split", "none", "-o", output]
    # A run that started on this data: its resolved config and log, as `bixse train` leaves them.
    config = TrainConfig(model=str(tiny_model_path), data=str(data), max_steps=2, dev_split=None,
                         output_dir=str(output))
    write_resolved_config(prepare(config), world=1)
    (output / LOG_FILE).write_text("")
    before = sorted(p.name for p in output.iterdir())

    data.write_text('{"query_id": "1", "doc_id": "184", "score": 0.0}\n')
    assert_input_error(bixse(*args, "--resume"), str(data), "field 'data'", "changed")
    assert sorted(p.name for p in output.iterdir()) == before


# --- 4. a TREC corpus with an unclosed <DOC> ----------------------------------------------------

def test_trec_corpus_missing_a_closing_doc_tag(tmp_path):
    folder = tmp_path / "trec"
    folder.mkdir()
    (folder / "corpus.trec").write_text(
        "<DOC>\n<DOCNO>d1</DOCNO>\n<TEXT>one</TEXT>\n</DOC>\n"
        "<DOC>\n<DOCNO>d2</DOCNO>\n<TEXT>two</TEXT>\n"          # no </DOC>: line 5 opens it
        "<DOC>\n<DOCNO>d3</DOCNO>\n<TEXT>three</TEXT>\n</DOC>\n")
    (folder / "topics.tsv").write_text("q1\tone\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.txt").write_text("q1 0 d1 1\n")
    assert_input_error(bixse("collection", "info", folder), f"{folder / 'corpus.trec'}:5", "<DOC>")


# --- 5a. a byte that is not UTF-8 -----------------------------------------------------------------

GOOD_DOC = b'{"_id": "d0", "text": "heat"}\n'


@pytest.mark.parametrize(("file_name", "files", "line"), [
    ("corpus.jsonl", {"corpus": GOOD_DOC + b'{"_id": "d1", "text": "caf' + INVALID_UTF8 + b'"}\n'}, 2),
    ("queries.jsonl", {"queries": b'{"_id": "q1", "text": "' + INVALID_UTF8 + b'"}\n'}, 1),
    ("qrels/test.tsv", {"qrels": b"query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t2" + INVALID_UTF8 + b"\n"}, 3),
], ids=["corpus", "queries", "qrels"])
def test_beir_file_that_is_not_utf8(tmp_path, file_name, files, line):
    folder = beir_folder(tmp_path / "beir", **files)
    assert_input_error(bixse("collection", "info", folder), f"{folder / file_name}:{line}", "not valid UTF-8")


def test_training_file_that_is_not_utf8(tmp_path, tiny_model_path):
    data = tmp_path / "pairs.jsonl"
    data.write_bytes(b'{"query": "a", "document": "b", "score": 1.0}\n{"query": "' + INVALID_UTF8 + b'"}\n')
    result = bixse("train", "-m", tiny_model_path, "--data", data, "--max-steps", "1", "-o", tmp_path / "out")
    assert_input_error(result, f"{data}:2", "not valid UTF-8")
    assert not (tmp_path / "out").exists()


def test_run_and_qrels_files_that_are_not_utf8(tmp_path):
    run = tmp_path / "run.trec"
    run.write_bytes(b"1 Q0 184 1 1.0 tag\n1 Q0 29" + INVALID_UTF8 + b" 2 0.5 tag\n")
    assert_input_error(bixse("eval", "--run", run), f"{run}:2", "not valid UTF-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_bytes(INVALID_UTF8 + b" 0 184 1\n")
    run.write_text("1 Q0 184 1 1.0 tag\n")
    assert_input_error(bixse("eval", "--run", run, "--qrels", qrels), f"{qrels}:1", "not valid UTF-8")


# --- 5b. rich markup in user data is printed as it is ---------------------------------------------

@pytest.mark.parametrize("name", ["[/INST]", "[/i]", "[data]"])
def test_markup_in_an_error_message_is_printed_verbatim(tmp_path, name):
    missing = tmp_path / name / "collection"
    line = assert_input_error(bixse("collection", "info", missing), "no such collection")
    assert str(missing) in line


def test_markup_in_titles_and_names_is_printed_verbatim(tmp_path):
    corpus = (b'{"_id": "d0", "title": "[/INST] heat [bold]flux[/bold]", "text": "heat transfer"}\n'
              b'{"_id": "d1", "title": "[/i]", "text": "text"}\n')
    folder = beir_folder(tmp_path / "col[red]", corpus=corpus,
                         qrels=b"query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t2\n")
    info = bixse("collection", "info", folder)
    assert info.returncode == 0 and "Traceback" not in info.stderr, info.stderr[-3000:]
    assert "collection: col[red]" in info.stdout
    found = bixse("search", "-m", "bm25", "-c", folder, "heat [x]")
    assert found.returncode == 0 and "Traceback" not in found.stderr, found.stderr[-3000:]
    assert "[/INST] heat [bold]flux[/bold]" in found.stdout and "heat [x]" in found.stdout
    exported = bixse("collection", "export", "cranfield", tmp_path / "out[data]")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert str(tmp_path / "out[data]") in exported.stdout.replace("\n", "")


# --- 5c. an output that is a folder where a file is expected -----------------------------------------

def test_mine_output_that_is_a_folder(tmp_path):
    folder = tmp_path / "somedir"
    folder.mkdir()
    assert_input_error(bixse("mine", "-o", folder), str(folder), "field 'output'", "is a directory")
    assert list(folder.iterdir()) == []


def test_export_into_a_path_that_is_a_file(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    assert_input_error(bixse("collection", "export", "cranfield", target), str(target), "field 'output'")
    assert target.read_text() == "mine" and sorted(tmp_path.iterdir()) == [target]


def test_eval_output_that_is_a_file(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    assert_input_error(bixse("eval", "-m", "bm25", "-o", target), str(target), "field 'output'")
    assert target.read_text() == "mine"


# --- 6. every eval option is checked before the first retrieval ------------------------------------

@pytest.mark.parametrize(("options", "words"), [
    (["--baseline", "nope"], ["field 'baseline'", "'nope'", "bm25"]),
    (["--ndcg-gain", "cubic"], ["field 'ndcg_gain'", "'cubic'"]),
    (["--measure", "nDCG@10", "--measure", "Foo@3"], ["field 'measure'", "'Foo@3'"]),
    (["-m", "default", "--faiss", "ivf"], ["field 'faiss'", "'ivf'"]),
    (["-m", "default", "--precision", "fp64"], ["field 'precision'", "'fp64'"]),
    (["-m", "./no-such-model"], ["no-such-model", "field 'model'", "does not exist"]),
], ids=["baseline", "ndcg-gain", "measure", "faiss", "precision", "later-model"])
def test_eval_rejects_a_bad_option_before_retrieving(tmp_path, options, words):
    output = tmp_path / "out"
    result = bixse("eval", "-m", "bm25", *options, "-o", output)
    assert_input_error(result, *words)
    assert not output.exists()


# --- 5/6, leftovers: judge's -o checked before judging; train never writes into a stranger's folder ---

def test_judge_output_that_is_a_folder_fails_before_judging(tmp_path, monkeypatch):
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text('{"query_id": "1", "doc_id": "184", "rank": 1, "score": 1.0}\n')
    folder, calls = tmp_path / "somedir", tmp_path / "calls.log"
    folder.mkdir()
    monkeypatch.setenv("BIXSE_DUMMY_JUDGE_CALLS", str(calls))
    result = bixse("judge", "-i", candidates, "-c", "cranfield", "--judge", "dummy",
                   "--cache", tmp_path / "labels.sqlite", "-o", folder)
    assert_input_error(result, str(folder), "field 'output'", "is a directory")
    assert not calls.exists() and not (tmp_path / "labels.sqlite").exists()


def test_train_into_a_folder_of_other_files_keeps_them(tmp_path, tiny_model_path):
    folder = tmp_path / "existing_folder_with_files"
    folder.mkdir()
    (folder / "README.md").write_text("my notes")
    result = bixse("train", "-m", tiny_model_path, "--max-steps", "1", "--dev-split", "none", "-o", folder)
    assert_input_error(result, str(folder), "field 'output_dir'", "no bixse training run", "--overwrite")
    assert [p.name for p in folder.iterdir()] == ["README.md"]
    assert (folder / "README.md").read_text() == "my notes"
