"""The HTTP judge against a stub OpenAI-compatible server on 127.0.0.1 (a thread in the test):
log-probability read-out, retries with back-off, timeouts, garbage answers, the concurrency
limit, and an API key that never leaks."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bixse.errors import InputError
from bixse.judging import HTTPJudge, JudgeError, LabelCache, Skipped, get_judge, label_pairs
from bixse.judging.base import Judgement
from bixse.judging.scoring import NO_LABEL_TOKEN

SECRET = "sk-test-0123456789abcdef"
PAIRS = [(f"query {i}", f"document {i} about shock waves") for i in range(6)]

# (status, body, headers, delay_s)
Reply = tuple[int, Any, dict[str, str], float]


def chat_reply(top: dict[str, float], chosen: str | None = None) -> dict[str, Any]:
    """A chat/completions answer carrying ``top`` as the first token's top log-probabilities."""
    chosen = chosen or max(top, key=top.__getitem__)
    entries = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": chosen},
                         "logprobs": {"content": [{"token": chosen, "logprob": top[chosen], "top_logprobs": entries}]}}]}


def ok(top: dict[str, float]) -> Reply:
    return 200, chat_reply(top), {}, 0.0


@dataclass
class Stub:
    """What the server answers (``reply(request_number, body)``) and what it saw."""

    reply: Callable[[int, dict[str, Any]], Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def serving(state: Stub):
    """A threaded stub server answering as ``state.reply`` says; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                number = len(state.requests)
                state.requests.append({"path": self.path, "body": body, "time": time.monotonic(),
                                       "authorization": self.headers.get("Authorization")})
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                status, payload, headers, delay = state.reply(number, body)
                time.sleep(delay)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def stub():
    """Start a threaded server; yield (Stub, base_url); set ``stub.reply`` in the test."""
    state = Stub(reply=lambda n, body: ok({"2": -0.1}))
    with serving(state) as url:
        yield state, url


def make_judge(base_url: str, **options: Any) -> HTTPJudge:
    options = {"max_retries": 2, "backoff_s": 0.05, "timeout_s": 2.0, **options}
    return HTTPJudge("stub-model", base_url=base_url, **options)


def test_chat_grade_readout_matches_hand_computation(stub, monkeypatch) -> None:
    state, url = stub
    monkeypatch.setenv("BIXSE_JUDGE_API_KEY", SECRET)
    top = {"2": -0.5, " 3": -1.2, "1": -2.0, "Hello": -0.1, "0": -4.0, "two": -3.0}
    state.reply = lambda n, body: ok(top)
    judge = make_judge(url, max_document_chars=12, top_logprobs=7)
    result = judge.judge([("shock waves", "A shock wave is a thin region.")])[0]
    # By hand: labels 0..3 get exp(-4), exp(-2), exp(-0.5), exp(-1.2); "Hello"/"two" are not labels,
    # and the chosen token "Hello" (also in the top list) is counted once.
    raw = {"0": math.exp(-4.0), "1": math.exp(-2.0), "2": math.exp(-0.5), "3": math.exp(-1.2)}
    mass = sum(raw.values())
    expected = sum(int(g) * p / mass for g, p in raw.items()) / 3
    assert isinstance(result, Judgement)
    assert result.score == pytest.approx(expected, abs=1e-12)
    assert result.extras["label_mass"] == pytest.approx(mass, abs=1e-12)
    assert result.distribution == pytest.approx({g: p / mass for g, p in raw.items()})
    request = state.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {SECRET}"
    body = request["body"]
    assert (body["model"], body["max_tokens"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (
        "stub-model", 1, 0, True, 7)
    user = body["messages"][-1]["content"]
    assert "Query: shock waves" in user and "Passage: A shock wave\n" in user, "document cut to 12 characters"


def test_completions_yes_no_readout(stub) -> None:
    state, url = stub
    top = {"Yes": -0.3, " no": -1.5, "No": -2.5, "maybe": -1.0}
    state.reply = lambda n, body: (200, {"choices": [{"text": "Yes", "logprobs": {
        "tokens": ["Yes"], "token_logprobs": [-0.3], "top_logprobs": [top]}}]}, {}, 0.0)
    judge = make_judge(url, endpoint="completions", mode="yesno")
    result = judge.judge([("q", "d")])[0]
    yes, no = math.exp(-0.3), math.exp(-1.5) + math.exp(-2.5)
    assert result.score == pytest.approx(yes / (yes + no), abs=1e-12)
    body = state.requests[0]["body"]
    assert state.requests[0]["path"] == "/v1/completions"
    assert body["logprobs"] == 20 and body["prompt"].endswith("Answer:") and "Query: q" in body["prompt"]
    assert state.requests[0]["authorization"] is None, "no key in the environment: no Authorization header"


def test_retries_back_off_exponentially_then_succeed(stub) -> None:
    state, url = stub
    state.reply = lambda n, body: (503, "busy", {}, 0.0) if n < 2 else ok({"3": -0.01})
    judge = make_judge(url, backoff_s=0.1, max_retries=3)
    result = judge.judge([("q", "d")])[0]
    assert result.score == pytest.approx(1.0)
    times = [r["time"] for r in state.requests]
    assert len(times) == 3
    # Waits are backoff * 2**attempt with up to +25% jitter: 0.1-0.125 s, then 0.2-0.25 s.
    assert times[1] - times[0] >= 0.1
    assert times[2] - times[1] >= 0.2, "the second wait doubles"
    assert times[2] - times[0] < 2.0


def test_timeouts_exhaust_retries_into_a_clear_error_keeping_finished_labels(stub, tmp_path) -> None:
    state, url = stub
    slow_query = PAIRS[3][0]
    state.reply = lambda n, body: (ok({"1": -0.2}) if slow_query not in json.dumps(body)
                                   else (200, chat_reply({"1": -0.2}), {}, 1.0))
    judge = make_judge(url, timeout_s=0.2, max_retries=2, backoff_s=0.05, max_concurrency=2)
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        with pytest.raises(JudgeError, match=r"failed 3 times \(last: timed out after 0.2 s\)") as caught:
            label_pairs(judge, PAIRS, cache, batch_size=len(PAIRS))
        assert "rerun the same command to resume" in str(caught.value)
        slow_attempts = [r for r in state.requests if slow_query in json.dumps(r["body"])]
        assert len(slow_attempts) == 3, "one try and two retries"
        # Every pair that finished before the failure is stored; the failing one is not.
        stored = cache.count(judge)
        assert 1 <= stored <= len(PAIRS) - 1
        # The endpoint recovers: the rerun asks only for what is missing.
        state.reply = lambda n, body: ok({"1": -0.2})
        before = len(state.requests)
        result = label_pairs(judge, PAIRS, cache, batch_size=len(PAIRS))
        assert result.stats.cached == stored and result.stats.judged == len(PAIRS) - stored
        assert len(state.requests) - before == len(PAIRS) - stored
        assert cache.count(judge) == len(PAIRS)


@pytest.mark.parametrize("reply, reason", [
    ((200, "<html>not json</html>", {}, 0.0), "not JSON"),
    ((200, {"choices": [{"message": {"content": "2"}}]}, {}, 0.0), "no next-token log-probabilities"),
    ((200, {"choices": []}, {}, 0.0), "no next-token log-probabilities"),
    ((200, chat_reply({"Hello": -0.1, "world": -3.0}), {}, 0.0), NO_LABEL_TOKEN),
    ((200, '{"choices": [{"logprobs": {"content": [{"token": "2", "logprob": NaN, "top_logprobs": []}]}}]}',
      {}, 0.0), "not finite"),
    ((200, chat_reply({"2": 0.5}), {}, 0.0), "not finite and <= 0"),
])
def test_garbage_answers_are_counted_skips_never_cached(stub, tmp_path, reply, reason) -> None:
    state, url = stub
    garbage_query = PAIRS[1][0]
    state.reply = lambda n, body: reply if garbage_query in json.dumps(body) else ok({"2": -0.1})
    judge = make_judge(url)
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        result = label_pairs(judge, PAIRS, cache)
        assert result.judgements[1] is None and all(j is not None for i, j in enumerate(result.judgements) if i != 1)
        assert sum(result.stats.skipped.values()) == 1
        assert reason in next(iter(result.stats.skipped))
        assert cache.count(judge) == len(PAIRS) - 1
        again = label_pairs(judge, PAIRS, cache)
        assert again.stats.cached == len(PAIRS) - 1 and again.stats.judged == 0
        assert sum(again.stats.skipped.values()) == 1, "a skipped pair is asked again on the rerun"
    assert len(state.requests) == len(PAIRS) + 1


def test_parse_returns_skipped_for_a_non_object_payload() -> None:
    judge = HTTPJudge("m", base_url="http://127.0.0.1:9/v1")
    assert isinstance(judge.parse(["a", "list"]), Skipped)
    assert isinstance(judge.parse("text"), Skipped)


def test_api_key_comes_from_the_environment_and_never_leaks(stub, monkeypatch, caplog) -> None:
    state, url = stub
    monkeypatch.setenv("MY_JUDGE_KEY", SECRET)
    # A server echoing the credentials it got, first busy (logged retries), then refusing.
    state.reply = lambda n, body: ((503, "busy", {}, 0.0) if n == 0 else
                                   (401, f"bad key {state.requests[n]['authorization']}", {}, 0.0))
    judge = make_judge(url, api_key_env="MY_JUDGE_KEY")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(JudgeError) as caught:
            label_pairs(judge, PAIRS[:1])
    assert state.requests[0]["authorization"] == f"Bearer {SECRET}"
    message = str(caught.value)
    assert "HTTP 401" in message and "$MY_JUDGE_KEY" in message and "***" in message
    assert any("retry 1/2" in record.getMessage() for record in caplog.records)
    for text in (message, repr(caught.value), repr(judge), judge.identity, json.dumps(judge.describe()),
                 caplog.text, repr(vars(judge))):
        assert SECRET not in text
    with pytest.raises(InputError, match="needs --model"):
        get_judge("http", base_url=url)


def test_credentials_in_the_url_stay_out_of_identity_and_messages() -> None:
    judge = HTTPJudge("m", base_url="http://user:hunter2@127.0.0.1:9/v1")
    assert "hunter2" not in judge.identity and "hunter2" not in repr(judge)
    assert judge.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(InputError, match="base URL"):
        HTTPJudge("m", base_url="ftp://host/v1")


def test_url_credentials_go_as_basic_auth_and_stay_out_of_the_request_log(stub, caplog) -> None:
    """httpx logs each request's URL at INFO: a password left in the URL would be logged."""
    state, url = stub
    judge = make_judge(url.replace("http://", "http://user:hunter2@"))
    with caplog.at_level(logging.INFO):
        label_pairs(judge, PAIRS[:1])
    expected = "Basic " + base64.b64encode(b"user:hunter2").decode()
    assert state.requests[0]["authorization"] == expected
    assert "HTTP Request" in caplog.text and "hunter2" not in caplog.text
    assert "hunter2" not in judge.request_body("q", "d")[0]


def test_an_echoed_key_is_redacted_before_the_body_is_cut(stub, monkeypatch) -> None:
    """The message keeps 200 characters of the body: cut first, a key across the cut would leak its start."""
    state, url = stub
    monkeypatch.setenv("MY_JUDGE_KEY", SECRET)
    state.reply = lambda n, body: (401, "x" * 188 + " key " + SECRET, {}, 0.0)
    with pytest.raises(JudgeError) as caught:
        label_pairs(make_judge(url, api_key_env="MY_JUDGE_KEY"), PAIRS[:1])
    assert SECRET[:6] not in str(caught.value) and "***" in str(caught.value)


def test_concurrency_limit_holds(stub) -> None:
    state, url = stub
    state.reply = lambda n, body: (200, chat_reply({"0": -0.1}), {}, 0.1)
    judge = make_judge(url, max_concurrency=2)
    results = judge.judge(PAIRS)
    assert all(isinstance(r, Judgement) for r in results)
    assert state.max_in_flight == 2, "requests overlap, but never more than the limit"


def test_bixse_judge_http_failure_exits_1_keeping_labels(stub, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.mining import Candidate, write_candidates

    state, url = stub
    monkeypatch.setenv("BIXSE_JUDGE_API_KEY", SECRET)
    state.reply = lambda n, body: (503, "down", {}, 0.0) if PAIRS[2][0] in json.dumps(body) else ok({"3": -0.1})
    write_candidates(tmp_path / "c.jsonl", [Candidate(q, str(i), 1, 1.0, None, q, d) for i, (q, d) in enumerate(PAIRS)],
                     with_texts=True)
    result = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "c.jsonl"), "--judge", "http", "--model", "m",
                                      "--base-url", url, "--max-retries", "1", "--concurrency", "1",
                                      "--batch-size", "2", "--cache", str(tmp_path / "labels.sqlite")])
    assert result.exit_code == 1
    assert "judge failed" in result.output and "HTTP 503" in result.output and "rerun the same command" in result.output
    assert SECRET not in result.output
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        answered = [r for r in state.requests if PAIRS[2][0] not in json.dumps(r["body"])]
        # Batch 1 and whatever of the failing batch 2 was answered: every paid-for label is stored.
        assert cache.count() == len(answered) >= 2


def dead_url() -> str:
    """A base URL on a port nothing listens on: every request fails to connect."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_requests_rotate_over_several_endpoints(stub) -> None:
    state, url = stub
    other = Stub(reply=lambda n, body: ok({"2": -0.1}))
    with serving(other) as other_url:
        judge = make_judge([url, other_url])
        results = judge.judge(PAIRS * 2)
    assert all(isinstance(r, Judgement) for r in results)
    assert len(state.requests) + len(other.requests) == 2 * len(PAIRS)
    assert len(state.requests) >= 3 and len(other.requests) >= 3, "both replicas take a share"
    assert judge.identity == make_judge([other_url, url]).identity, "the order of the URLs does not matter"
    assert [line.rsplit(", ", 1)[-1] for line in judge.endpoint_report()] == ["0 failed", "0 failed"]


@pytest.mark.parametrize("broken", ["refuses connections", "answers 503"])
def test_a_dead_endpoint_among_live_ones_loses_no_label(stub, tmp_path, broken, caplog) -> None:
    state, url = stub
    state.reply = lambda n, body: (200, chat_reply({"2": -0.1}), {}, 0.02)  # a run long enough to retry the bad one
    failing = Stub(reply=lambda n, body: (503, "down", {}, 0.0))
    with contextlib.ExitStack() as stack:
        bad = dead_url() if broken == "refuses connections" else stack.enter_context(serving(failing))
        judge = make_judge([bad, url], max_retries=2, backoff_s=0.001, max_concurrency=3)
        with LabelCache(tmp_path / "labels.sqlite") as cache, caplog.at_level(logging.WARNING):
            many = [(f"query {i}", f"document {i}") for i in range(40)]
            result = label_pairs(judge, many, cache, batch_size=8)
            assert cache.count(judge) == len(many)
    assert all(j is not None for j in result.judgements) and not result.stats.skipped
    report = judge.endpoint_report()
    # Dead once 3 requests in a row failed there (a few more may have been in flight at that moment).
    failures = int(re.search(r"dead after (\d+) failures in a row", report[0]).group(1))
    assert 3 <= failures <= 3 + 2 and report[0].endswith("skipped")
    assert report[1].endswith(f"{len(state.requests)} answered, 0 failed")
    assert any("is dead after" in record.getMessage() for record in caplog.records)
    if broken == "answers 503":
        assert len(failing.requests) == failures, "no request goes to a dead endpoint"


def test_every_endpoint_dead_stops_the_run(stub) -> None:
    state, url = stub
    state.reply = lambda n, body: (503, "down", {}, 0.0)
    judge = make_judge([dead_url(), url], max_retries=1, backoff_s=0.02)
    with pytest.raises(JudgeError, match=r"endpoints .* failed 4 times \(last: "):
        judge.judge(PAIRS[:1])


def test_bixse_judge_takes_several_base_urls_and_reports_them(stub, tmp_path) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.mining import Candidate, write_candidates

    state, url = stub
    write_candidates(tmp_path / "c.jsonl", [Candidate(q, str(i), 1, 1.0, None, q, d) for i, (q, d) in enumerate(PAIRS)],
                     with_texts=True)
    bad = dead_url()
    result = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "c.jsonl"), "--judge", "http", "--model", "m",
                                      "--base-url", bad, "--base-url", url, "--max-retries", "1",
                                      "--cache", str(tmp_path / "labels.sqlite")])
    assert result.exit_code == 0, result.output
    assert f"{len(PAIRS)} pairs" in result.output and f"{len(PAIRS)} judged now" in result.output
    # A failure puts the dead endpoint in back-off (1 s by default, or dead when requests in flight
    # failed there at once); the live one answers everything.
    assert f"endpoint {bad}: 0 answered, " in result.output
    assert f"endpoint {url}: {len(PAIRS)} answered, 0 failed" in result.output
