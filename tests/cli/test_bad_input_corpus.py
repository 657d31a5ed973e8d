"""The bad-input corpus: one case per mistake a user makes, across every command.

Each case runs ``bixse.cli.main`` in this process (the entry point the ``bixse`` script runs,
with its error handling) and asserts: the exit status (2 for bad input, 1 for a runtime fault),
no Python traceback, every expected word in one line of stderr (the file and line, or the
option), and nothing left at the paths the command was asked to write. tests/cli/test_bad_input.py
runs the issue's headline cases as real subprocesses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bixse.cli import main

CANDIDATE = {"query_id": "1", "doc_id": "184", "rank": 1, "score": 1.0}
PAIR = {"query": "heat flux", "document": "heat transfer in a boundary layer", "score": 0.5}


@dataclass
class Case:
    """``args(folder, model)`` -> command line; ``words`` all in one stderr line; ``absent``: paths
    (relative to the case's folder) that must not exist afterwards."""

    args: Callable[[Path, Path], list]
    words: tuple[str, ...]
    code: int = 2
    absent: tuple[str, ...] = ("out",)
    files: dict[str, str | bytes] = field(default_factory=dict)


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def beir(corpus: str | None = None, queries: str | None = None, qrels: str | None = None) -> dict[str, str]:
    """A two-query BEIR folder ``col/``; any of its files replaced."""
    return {"col/corpus.jsonl": corpus if corpus is not None else jsonl(
                {"_id": "d0", "title": "t", "text": "heat flux"}, {"_id": "d1", "text": "shock wave"}),
            "col/queries.jsonl": queries if queries is not None else jsonl({"_id": "q1", "text": "heat"},
                                                                           {"_id": "q2", "text": "shock"}),
            "col/qrels/test.tsv": qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t2\n"}


def yaml_file(text: str) -> dict[str, str]:
    return {"config.yaml": text}


TRAIN = ["train", "--max-steps", "1", "--dev-split", "none"]


def train(*options: str) -> Callable[[Path, Path], list]:
    return lambda d, model: [*TRAIN, "-m", model, "--data", d / "pairs.jsonl", *options, "-o", d / "out"]


GOOD_PAIRS = {"pairs.jsonl": jsonl(PAIR, {**PAIR, "query": "shock", "score": 1.0})}
GOOD_CANDIDATES = {"candidates.jsonl": jsonl(CANDIDATE)}


def judge(*options: str) -> Callable[[Path, Path], list]:
    return lambda d, model: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield", "--judge", "dummy",
                             "--cache", d / "out" / "labels.sqlite", *options]


CASES: dict[str, Case] = {
    # --- collection --------------------------------------------------------------------------------
    "collection-missing": Case(lambda d, m: ["collection", "info", d / "nope"], ("nope", "no such collection")),
    "collection-bad-json": Case(lambda d, m: ["collection", "info", d / "col"], ("corpus.jsonl:2",),
                                files=beir(corpus=jsonl({"_id": "d0", "text": "a"}) + "{not json\n")),
    "collection-no-id": Case(lambda d, m: ["collection", "info", d / "col"], ("corpus.jsonl:1", "_id"),
                             files=beir(corpus=jsonl({"text": "a"}))),
    "collection-query-no-text": Case(lambda d, m: ["collection", "info", d / "col"], ("queries.jsonl:2", "text"),
                                     files=beir(queries=jsonl({"_id": "q1", "text": "a"}, {"_id": "q2"}))),
    "collection-qrels-grade": Case(lambda d, m: ["collection", "info", d / "col"], ("test.tsv:3",),
                                   files=beir(qrels="query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\thigh\n")),
    "collection-qrels-columns": Case(lambda d, m: ["collection", "info", d / "col"], ("test.tsv:2",),
                                     files=beir(qrels="query-id\tcorpus-id\tscore\nq1\td0\n")),
    "collection-duplicate-doc": Case(lambda d, m: ["collection", "info", d / "col"], ("corpus.jsonl:2", "d0"),
                                     files=beir(corpus=jsonl({"_id": "d0", "text": "a"}, {"_id": "d0", "text": "b"}))),
    "collection-not-utf8": Case(lambda d, m: ["collection", "info", d / "col"], ("queries.jsonl:1", "UTF-8"),
                                files={**beir(), "col/queries.jsonl": b'{"_id": "q1", "text": "\xff"}\n'}),
    "collection-export-format": Case(lambda d, m: ["collection", "export", "cranfield", d / "out", "--format", "xml"],
                                     ("format", "xml")),
    "collection-export-onto-file": Case(lambda d, m: ["collection", "export", "cranfield", d / "taken"],
                                        ("taken", "field 'output'"), absent=(), files={"taken": "mine"}),
    # --- mine --------------------------------------------------------------------------------------
    "mine-collection": Case(lambda d, m: ["mine", "-c", d / "nope", "-o", d / "out"], ("nope", "no such collection")),
    "mine-split": Case(lambda d, m: ["mine", "--split", "trian", "-o", d / "out"], ("trian", "split")),
    "mine-retriever": Case(lambda d, m: ["mine", "--retriever", "bm26", "-o", d / "out"], ("bm26",)),
    "mine-top-k": Case(lambda d, m: ["mine", "--top-k", "0", "-o", d / "out"], ("top_k",)),
    "mine-top-k-type": Case(lambda d, m: ["mine", "--top-k", "many", "-o", d / "out"], ("--top-k", "valid integer")),
    "mine-output-folder": Case(lambda d, m: ["mine", "-o", d / "dir"], ("dir", "field 'output'", "is a directory"),
                               absent=("dir/candidates.jsonl",), files={"dir/keep": ""}),
    "mine-device": Case(lambda d, m: ["mine", "--retriever", m, "--device", "cuda", "-o", d / "out"],
                        ("field 'device'", "no cuda device")),
    # --- search ------------------------------------------------------------------------------------
    "search-model": Case(lambda d, m: ["search", "-m", d / "no-model", "heat"], ("no-model", "field 'model'"),
                         absent=()),
    "search-top-k": Case(lambda d, m: ["search", "-m", "bm25", "--top-k", "0", "heat"], ("top_k",), absent=()),
    "search-faiss": Case(lambda d, m: ["search", "-m", m, "--faiss", "ivf", "heat"], ("faiss", "ivf"), absent=()),
    "search-precision": Case(lambda d, m: ["search", "-m", m, "--precision", "fp64", "heat"], ("precision", "fp64"),
                             absent=()),
    "search-device": Case(lambda d, m: ["search", "-m", m, "--device", "gpu0", "heat"], ("device", "'gpu0'"),
                          absent=()),
    # --- judge -------------------------------------------------------------------------------------
    "judge-no-candidates": Case(lambda d, m: ["judge", "--judge", "dummy", "-o", d / "out"], ("--candidates",)),
    "judge-missing-file": Case(lambda d, m: ["judge", "-i", d / "none.jsonl", "--judge", "dummy", "-o", d / "out"],
                               ("none.jsonl",)),
    "judge-bad-json": Case(judge(), ("candidates.jsonl:2",), files={"candidates.jsonl": jsonl(CANDIDATE) + "{x\n"}),
    "judge-no-doc-id": Case(judge(), ("candidates.jsonl:1", "doc_id"),
                            files={"candidates.jsonl": jsonl({"query_id": "1", "rank": 1})}),
    "judge-kind": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "--judge", "oracle"], ("oracle", "judge"),
                       files=GOOD_CANDIDATES),
    "judge-mode": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield", "--mode", "vote"],
                       ("mode", "vote"), files=GOOD_CANDIDATES),
    "judge-max-grade": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield",
                                          "--max-grade", "0"], ("max_grade",), files=GOOD_CANDIDATES),
    "judge-prompt-file": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield",
                                            "--prompt", d / "prompt.json"], ("prompt.json",),
                              files={**GOOD_CANDIDATES, "prompt.json": '{"name": "p"}'}),
    "judge-prompt-name": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield",
                                            "--prompt", "umbrella"], ("umbrella", "prompt"), files=GOOD_CANDIDATES),
    "judge-shard-range": Case(judge("--shard", "3/2"), ("shard", "3/2"), files=GOOD_CANDIDATES),
    "judge-shard-form": Case(judge("--shard", "half"), ("shard", "half"), files=GOOD_CANDIDATES),
    "judge-run-needs-collection": Case(lambda d, m: ["judge", "--candidates-run", d / "run.trec", "--judge", "dummy",
                                                     "-o", d / "out"], ("collection",),
                                       files={"run.trec": "1 Q0 184 1 1.0 t\n"}),
    "judge-run-bad-line": Case(lambda d, m: ["judge", "--candidates-run", d / "run.trec", "-c", "cranfield",
                                             "--judge", "dummy", "-o", d / "out"], ("run.trec:2",),
                               files={"run.trec": "1 Q0 184 1 1.0 t\n1 Q0 12 two 0.5 t\n"}),
    "judge-file-needs-labels": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield",
                                                  "--judge", "file"], ("labels",), files=GOOD_CANDIDATES),
    # A runtime fault, not bad input: the default endpoint (vLLM's localhost:8000) is not serving.
    "judge-http-unreachable": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield", "--judge",
                                                 "http", "--model", "m", "--max-retries", "0",
                                                 "--cache", d / "labels.sqlite"],
                                   ("judge failed", "127.0.0.1:8000", "connection failed"), code=1, absent=(),
                                   files=GOOD_CANDIDATES),
    "judge-agreement-needs-qrels": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "--judge", "dummy",
                                                      "--agreement", d / "out"], ("agreement",),
                                        files={"candidates.jsonl": jsonl({**CANDIDATE, "query": "q",
                                                                          "document": "d"})}),
    "judge-ids-without-texts": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "--judge", "dummy",
                                                  "-o", d / "out"], ("collection",), files=GOOD_CANDIDATES),
    "judge-batch-size": Case(judge("--batch-size", "0"), ("batch",), files=GOOD_CANDIDATES),
    "judge-cache-folder": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield", "--judge",
                                             "dummy", "--cache", d / "cachedir"], ("cachedir",), absent=(),
                               files={**GOOD_CANDIDATES, "cachedir/keep": ""}),
    "judge-cache-damaged": Case(lambda d, m: ["judge", "-i", d / "candidates.jsonl", "-c", "cranfield", "--judge",
                                              "dummy", "--cache", d / "labels.sqlite"], ("labels.sqlite",), absent=(),
                                files={**GOOD_CANDIDATES, "labels.sqlite": b"SQLite format 3\x00" + b"\x13" * 4000}),
    # --- labels ------------------------------------------------------------------------------------
    "labels-import-missing": Case(lambda d, m: ["labels", "import", d / "none.tsv", "-c", "cranfield",
                                                "--max-grade", "3", "-o", d / "out"], ("none.tsv",)),
    "labels-import-grade": Case(lambda d, m: ["labels", "import", d / "q.txt", "-c", "cranfield", "--max-grade", "3",
                                              "-o", d / "out"], ("q.txt:2",), files={"q.txt": "1 0 184 2\n1 0 12 x\n"}),
    "labels-import-above-max": Case(lambda d, m: ["labels", "import", d / "q.txt", "-c", "cranfield",
                                                  "--max-grade", "3", "-o", d / "out"], ("q.txt:1", "4"),
                                    files={"q.txt": "1 0 184 4\n"}),
    "labels-import-unknown-doc": Case(lambda d, m: ["labels", "import", d / "q.txt", "-c", "cranfield",
                                                    "--max-grade", "3", "-o", d / "out"], ("q.txt:1", "nodoc"),
                                      files={"q.txt": "1 0 nodoc 2\n"}),
    "labels-export-bad-line": Case(lambda d, m: ["labels", "export", d / "pairs.jsonl", "-c", "cranfield",
                                                 "--max-grade", "3", "-o", d / "out"], ("pairs.jsonl:2",),
                                   files={"pairs.jsonl": jsonl({"query_id": "1", "doc_id": "184", "score": 1.0})
                                          + '{"query_id": "1"\n'}),
    "labels-merge-not-sqlite": Case(lambda d, m: ["labels", "merge", d / "out.sqlite", d / "a.sqlite"], ("a.sqlite",),
                                    absent=("out.sqlite",), files={"a.sqlite": "plain text, not a database\n"}),
    # --- train -------------------------------------------------------------------------------------
    "train-data-missing": Case(lambda d, m: [*TRAIN, "-m", m, "--data", d / "none.jsonl", "-o", d / "out"],
                               ("none.jsonl",)),
    "train-data-bad-json": Case(train(), ("pairs.jsonl:3",),
                                files={"pairs.jsonl": jsonl(PAIR, PAIR) + "{oops\n"}),
    "train-data-no-score": Case(train(), ("pairs.jsonl:2", "score"),
                                files={"pairs.jsonl": jsonl(PAIR, {"query": "a", "document": "b"})}),
    "train-data-score-range": Case(train(), ("pairs.jsonl:1", "score", "1.5"),
                                   files={"pairs.jsonl": jsonl({**PAIR, "score": 1.5})}),
    "train-data-csv-column": Case(lambda d, m: [*TRAIN, "-m", m, "--data", d / "pairs.csv", "-o", d / "out"],
                                  ("pairs.csv", "score"), files={"pairs.csv": "query,document\na,b\n"}),
    "train-loss": Case(train("--loss", "bixe"), ("bixe", "loss")),
    "train-loss-param": Case(train("--loss-param", "temprature=0.1"), ("temprature",), files=GOOD_PAIRS),
    "train-loss-param-form": Case(train("--loss-param", "scale"), ("loss_param", "scale"), files=GOOD_PAIRS),
    "train-batch-size": Case(train("--batch-size", "0"), ("batch_size",), files=GOOD_PAIRS),
    "train-learning-rate": Case(train("--learning-rate", "-1"), ("learning_rate",), files=GOOD_PAIRS),
    "train-warmup": Case(train("--warmup-ratio", "1.5"), ("warmup_ratio",), files=GOOD_PAIRS),
    "train-mini-batch": Case(train("--batch-size", "8", "--mini-batch-size", "16"), ("mini_batch_size",),
                             files=GOOD_PAIRS),
    "train-fp16-cpu": Case(train("--precision", "fp16"), ("fp16", "precision"), files=GOOD_PAIRS),
    "train-ring-one-process": Case(train("--loss", "bixse_ring"), ("torchrun",), files=GOOD_PAIRS),
    "train-hard-negatives": Case(train("--hard-negatives", "-1"), ("hard_negatives",), files=GOOD_PAIRS),
    "train-report-to": Case(train("--report-to", "myspace"), ("report_to", "myspace"), files=GOOD_PAIRS),
    "train-config-missing": Case(lambda d, m: ["train", "--config", d / "none.yaml", "-o", d / "out"], ("none.yaml",)),
    "train-config-unknown-key": Case(lambda d, m: ["train", "--config", d / "config.yaml", "-o", d / "out"],
                                     ("config.yaml", "lerning_rate"), files=yaml_file("lerning_rate: 1e-5\n")),
    "train-config-type": Case(lambda d, m: ["train", "--config", d / "config.yaml", "-o", d / "out"],
                              ("config.yaml", "batch_size"), files=yaml_file("batch_size: many\n")),
    "train-config-not-yaml": Case(lambda d, m: ["train", "--config", d / "config.yaml", "-o", d / "out"],
                                  ("config.yaml",), files=yaml_file("loss: [bixse\n")),
    "train-model-missing": Case(lambda d, m: [*TRAIN, "-m", d / "no-model", "--data", d / "pairs.jsonl",
                                              "-o", d / "out"], ("no-model", "model"), files=GOOD_PAIRS),
    # --- eval --------------------------------------------------------------------------------------
    "eval-run-missing": Case(lambda d, m: ["eval", "--run", d / "none.trec", "-o", d / "out"], ("none.trec",)),
    "eval-run-columns": Case(lambda d, m: ["eval", "--run", d / "run.trec", "-o", d / "out"], ("run.trec:2",),
                             files={"run.trec": "1 Q0 184 1 1.0 t\n1 Q0 12 2\n"}),
    "eval-qrels-line": Case(lambda d, m: ["eval", "--run", d / "run.trec", "--qrels", d / "qrels.txt",
                                          "-o", d / "out"], ("qrels.txt:1",),
                            files={"run.trec": "1 Q0 184 1 1.0 t\n", "qrels.txt": "1 0 184 high\n"}),
    "eval-split": Case(lambda d, m: ["eval", "-m", "bm25", "--split", "tset", "-o", d / "out"], ("tset", "split")),
    "eval-collection": Case(lambda d, m: ["eval", "-m", "bm25", "-c", d / "nope", "-o", d / "out"], ("nope",)),
    "eval-top-k": Case(lambda d, m: ["eval", "-m", "bm25", "--top-k", "0", "-o", d / "out"], ("top_k",)),
    "eval-device": Case(lambda d, m: ["eval", "-m", "bm25", "-m", m, "--device", "cuda:0", "-o", d / "out"],
                        ("field 'device'", "no cuda device")),
    # --- experiment --------------------------------------------------------------------------------
    "experiment-config-missing": Case(lambda d, m: ["experiment", "run", d / "none.yaml", "-o", d / "out"],
                                      ("none.yaml",)),
    "experiment-config-key": Case(lambda d, m: ["experiment", "run", d / "config.yaml", "-o", d / "out"],
                                  ("config.yaml", "lossses"), files=yaml_file("name: x\nlossses: [bixse]\n")),
    "experiment-shard": Case(lambda d, m: ["experiment", "run", d / "config.yaml", "--shard", "0/2", "-o", d / "out"],
                             ("shard", "0/2"), files=yaml_file("name: x\n")),
    "experiment-report-empty": Case(lambda d, m: ["experiment", "report", d / "empty"], ("empty",), absent=(),
                                    files={"empty/keep": ""}),
    # --- demo --------------------------------------------------------------------------------------
    "demo-scale": Case(lambda d, m: ["demo", "--scale", "tpu", "-o", d / "out"], ("tpu", "scale")),
    "demo-loss": Case(lambda d, m: ["demo", "--losses", "bixse,nope", "-o", d / "out"], ("nope", "loss")),
    "demo-labels": Case(lambda d, m: ["demo", "--labels", "llm", "-o", d / "out"], ("llm", "label")),
    "demo-baseline": Case(lambda d, m: ["demo", "--losses", "bixse,infonce", "--baseline", "lsepair", "-o", d / "out"],
                          ("lsepair", "baseline")),
}


def run_main(args: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["bixse", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "300")
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return code, capsys.readouterr().err


def test_the_corpus_covers_every_command() -> None:
    commands = {name.split("-")[0] for name in CASES}
    assert commands == {"collection", "mine", "search", "judge", "labels", "train", "eval", "experiment", "demo"}
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, tiny_model_path: Path, monkeypatch, capsys) -> None:
    case = CASES[name]
    for relative, content in case.files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    monkeypatch.chdir(tmp_path)
    code, stderr = run_main(case.args(tmp_path, tiny_model_path), monkeypatch, capsys)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert code == case.code, (code, stderr[-3000:])
    matching = [line for line in stderr.splitlines() if all(word in line for word in case.words)]
    assert matching, f"no stderr line holds all of {case.words}:\n{stderr[-3000:]}"
    for relative in case.absent:
        assert not (tmp_path / relative).exists(), f"{relative} was left behind"


def test_device_reaches_the_dense_retriever(tmp_path: Path, tiny_model_path: Path, monkeypatch, capsys) -> None:
    """The good path of --device: ``bixse search -m MODEL --device cpu`` loads the model there."""
    import bixse.models

    seen = []
    real = bixse.models.load_sentence_transformer

    def recording(name, **kwargs):
        seen.append(kwargs.get("device"))
        return real(name, **kwargs)

    monkeypatch.setattr(bixse.models, "load_sentence_transformer", recording)
    code, stderr = run_main(["search", "-m", tiny_model_path, "--device", "cpu", "--no-cache", "heat"],
                            monkeypatch, capsys)
    assert code == 0, stderr
    assert seen == ["cpu"]
