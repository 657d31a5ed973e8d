"""LLM judge over any OpenAI-compatible HTTP endpoint (a vLLM or llama.cpp server, an API).

Each pair is one request for ONE token at temperature 0 with its top log-probabilities:

- ``endpoint="chat"``: ``POST {base_url}/chat/completions`` with ``messages``,
  ``logprobs: true, top_logprobs: k``; read ``choices[0].logprobs.content[0].top_logprobs``.
  A prompt with an answer prefix (``umbrela``'s ``##final score:``) sends it as the start of the
  assistant turn with vLLM's ``continue_final_message: true, add_generation_prompt: false``.
- ``endpoint="completions"``: ``POST {base_url}/completions`` with the plain prompt and
  ``logprobs: k``; read ``choices[0].logprobs.top_logprobs[0]``.

Top tokens that spell a label (``"2"``, ``" 2"``, ``"Yes"``) are summed per label, then read out
as in ``bixse.judging.scoring``; grades outside the top k count as probability 0.

Failure policy (labels already made are never lost: the runner caches every finished pair
before an error propagates):

- timeout, connection error, HTTP 408/409/429/5xx: retried with exponential back-off and
  jitter (``backoff_s * 2**failures``, honouring ``Retry-After``), ``max_retries`` times; then a
  ``JudgeError`` stops the run.
- several ``base_url``s (replicas of one model): requests rotate over them, each endpoint with
  its own back-off; a failed request is retried on the next endpoint at once. An endpoint that
  fails ``max_retries + 1`` times in a row while another still answers is dead: skipped for the
  rest of the run and reported (``endpoint_report``), not fatal. A request that fails on every
  endpoint ``max_retries + 1`` times, or the last live endpoint failing, stops the run.
- any other HTTP error (401, 404, 400...): a ``JudgeError`` at once: retrying will not help.
- HTTP 200 with garbage (not JSON, no log-probabilities, NaN or positive ones, no label among
  the top tokens): the pair is ``Skipped`` and counted; a rerun asks again.

The API key is read from the environment variable named by ``api_key_env`` (default
``BIXSE_JUDGE_API_KEY``), sent as a bearer token, and appears in no identity, log or message.
Documents are cut to ``max_document_chars`` (no tokenizer here; ~4 characters a token).
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Literal

from bixse.errors import InputError
from bixse.judging.base import Judge, Judgement, JudgeError, Pair, Skipped
from bixse.judging.prompts import JudgeMode, PromptTemplate, default_prompt
from bixse.judging.scoring import judgement_from_label_logprobs, logsumexp, match_label

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
DEFAULT_API_KEY_ENV = "BIXSE_JUDGE_API_KEY"
# Servers round log-probabilities of near-certain tokens to slightly above 0.
LOGPROB_TOLERANCE = 1e-4


class _Stopped(Exception):
    """Another request of the batch failed for good: stop without sending more."""


class _Endpoint:
    """One base URL's state: its back-off, its failures in a row, whether it is dead, its counts."""

    def __init__(self, request_base: str, shown: str, auth: tuple[str, str] | None) -> None:
        self.request_base, self.shown, self.auth = request_base, shown, auth
        self.down_until = 0.0
        self.failures_in_a_row = 0
        self.dead: str | None = None  # why, once dead
        self.answered = self.failed = 0


def _split_url(base_url: str) -> tuple[str, str, tuple[str, str] | None]:
    """(the URL requests go to, the URL shown in identities and messages, the URL's user and
    password). Credentials travel as basic auth, not in the URL: httpx logs each request's URL
    at INFO, password included."""
    import httpx

    try:
        url = httpx.URL(base_url)
    except Exception:
        raise InputError(f"not a URL: {base_url!r}", field="base_url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InputError("base URL must be http(s)://host[:port]/path", field="base_url")
    port = f":{url.port}" if url.port else ""
    auth = (url.username, url.password) if url.userinfo else None
    return (str(url.copy_with(userinfo=b"")).rstrip("/"), f"{url.scheme}://{url.host}{port}{url.path.rstrip('/')}",
            auth)


class HTTPJudge(Judge):
    """Graded or yes/no relevance from an OpenAI-compatible endpoint's token log-probabilities.

    Example (a local vLLM server)::

        judge = HTTPJudge("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")
        pool = HTTPJudge("Qwen/Qwen2.5-7B-Instruct", base_url=["http://gpu1:8000/v1", "http://gpu2:8000/v1"])
    """

    kind = "http"
    family = "llm"
    default_batch_size = 32

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | Sequence[str] = "http://127.0.0.1:8000/v1",
        endpoint: Literal["chat", "completions"] = "chat",
        mode: JudgeMode | None = None,
        max_grade: int | None = None,
        prompt: PromptTemplate | None = None,
        top_logprobs: int = 20,
        max_document_chars: int = 4000,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_concurrency: int = 8,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        identity: str | None = None,
    ) -> None:
        if not model:
            raise InputError("an HTTP judge needs --model (the model name the endpoint serves)", field="model")
        if endpoint not in ("chat", "completions"):
            raise InputError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}", field="endpoint")
        if prompt is not None and mode is not None and prompt.mode != mode:
            raise InputError(f"the prompt is a {prompt.mode!r} prompt but mode is {mode!r}", field="mode")
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise InputError("give at least one base URL", field="base_url")
        self._endpoints = [_Endpoint(*_split_url(url)) for url in urls]
        if len({endpoint.shown for endpoint in self._endpoints}) < len(urls):
            raise InputError("the same base URL is given twice", field="base_url")
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise InputError("need max_concurrency >= 1, max_retries >= 0, timeout_s > 0", field="max_concurrency")
        self.model = model
        self.prompt = prompt or default_prompt(mode or "grade")
        self.mode, self.max_grade = self.prompt.mode, self.prompt.top_grade(max_grade)
        self.labels = self.prompt.labels(self.max_grade)
        # Credentials in a URL (user:password@host) stay out of identities and messages.
        self.base_url = ",".join(sorted(endpoint.shown for endpoint in self._endpoints))
        self.endpoint, self.top_logprobs, self.max_document_chars = endpoint, top_logprobs, max_document_chars
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.max_concurrency, self.api_key_env = max_concurrency, api_key_env
        # A batch is one thread pool's work: at least 4 requests per slot keeps every slot busy.
        self.default_batch_size = max(HTTPJudge.default_batch_size, 4 * max_concurrency)
        self.name = model.rstrip("/").split("/")[-1]
        self.prompt_version = self.prompt.key
        self._identity = identity or f"{model}@{self.base_url}"
        self._client: Any = None  # an httpx.Client, made on first use
        self._pool: ThreadPoolExecutor | None = None
        self._client_lock = threading.Lock()
        self._endpoint_lock = threading.Lock()
        self._next_endpoint = 0

    @property
    def identity(self) -> str:
        return (f"http:{self._identity}|endpoint={self.endpoint}|mode={self.mode}|max_grade={self.max_grade}"
                f"|top_logprobs={self.top_logprobs}|doc_chars={self.max_document_chars}")

    def _api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key else text

    def _get_client(self) -> Any:
        import httpx

        with self._client_lock:
            if self._client is None:
                connections = self.max_concurrency * len(self._endpoints)
                limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
                self._client = httpx.Client(timeout=self.timeout_s, limits=limits)
            return self._client

    def _get_pool(self) -> ThreadPoolExecutor:
        """One pool of ``max_concurrency`` threads for the judge's life: a pool per batch would start
        its threads again for every batch (a third of the client's time at concurrency 1)."""
        with self._client_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="bixse-judge")
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def request_body(self, query: str, document: str) -> tuple[str, dict[str, Any]]:
        """The URL (of the first endpoint) and JSON body sent for one pair."""
        path, body = self._request(query, document)
        return self._endpoints[0].request_base + path, body

    def _request(self, query: str, document: str) -> tuple[str, dict[str, Any]]:
        """The path under a base URL and the JSON body sent for one pair."""
        document = document[: self.max_document_chars]
        if self.endpoint == "chat":
            messages = self.prompt.messages(query, document, self.max_grade)
            body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0,
                                    "logprobs": True, "top_logprobs": self.top_logprobs}
            if self.prompt.answer_prefix:
                # The answer prefix opens the assistant turn, so the grade is the next token: vLLM's
                # continue_final_message (servers without it: use endpoint="completions").
                messages.append({"role": "assistant", "content": self.prompt.answer_prefix})
                body.update(continue_final_message=True, add_generation_prompt=False)
            return "/chat/completions", body
        return "/completions", {
            "model": self.model, "prompt": self.prompt.plain_text(query, document, self.max_grade),
            "max_tokens": 1, "temperature": 0, "logprobs": self.top_logprobs}

    def parse(self, payload: Any) -> Judgement | Skipped:
        """A judgement from a response's JSON, or ``Skipped`` saying what was wrong with it."""
        try:
            logprobs = payload["choices"][0]["logprobs"]
            if self.endpoint == "chat":
                first = logprobs["content"][0]
                candidates = [(entry["token"], float(entry["logprob"])) for entry in first["top_logprobs"]]
                candidates.append((first["token"], float(first["logprob"])))
            else:
                candidates = [(token, float(lp)) for token, lp in logprobs["top_logprobs"][0].items()]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return Skipped("unparseable response: no next-token log-probabilities")
        # NaN/inf or a positive log-probability is a broken server, not a label.
        if not all(math.isfinite(logprob) and logprob <= LOGPROB_TOLERANCE for _, logprob in candidates):
            return Skipped("unparseable response: log-probabilities not finite and <= 0")
        per_label: dict[str, list[float]] = {}
        seen: set[str] = set()
        for token, logprob in candidates:
            label = match_label(str(token), self.labels)
            if label is not None and token not in seen:  # the chosen token repeats one of the top ones
                seen.add(token)
                per_label.setdefault(label, []).append(logprob)
        return judgement_from_label_logprobs({label: logsumexp(lps) for label, lps in per_label.items()}, self.labels)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self.backoff_s * 2**attempt, MAX_BACKOFF_S) * (1 + 0.25 * random.random())
        if retry_after is not None:
            try:
                delay = max(delay, min(float(retry_after), 2 * MAX_BACKOFF_S))
            except ValueError:
                pass
        return delay

    def _pick_endpoint(self, stop: threading.Event) -> _Endpoint:
        """The next live endpoint out of back-off (round robin); waits for the first to come back."""
        import time

        while True:
            with self._endpoint_lock:
                live = [endpoint for endpoint in self._endpoints if endpoint.dead is None]
                now = time.monotonic()
                ready = [endpoint for endpoint in live if endpoint.down_until <= now]
                if ready:
                    self._next_endpoint += 1
                    return ready[self._next_endpoint % len(ready)]
                wait = min(endpoint.down_until for endpoint in live) - now
            if stop.wait(wait):
                raise _Stopped

    def _record_failure(self, endpoint: _Endpoint, problem: str, retry_after: str | None) -> None:
        import time

        with self._endpoint_lock:
            endpoint.failed += 1
            endpoint.failures_in_a_row += 1
            others = [e for e in self._endpoints if e is not endpoint and e.dead is None]
            if endpoint.failures_in_a_row > self.max_retries and others:
                endpoint.dead = f"dead after {endpoint.failures_in_a_row} failures in a row (last: {problem})"
                logger.warning("judge endpoint %s is %s; skipping it, %d endpoint(s) left", endpoint.shown,
                               endpoint.dead, len(others))
                return
            delay = self._backoff(endpoint.failures_in_a_row - 1, retry_after)
            endpoint.down_until = max(endpoint.down_until, time.monotonic() + delay)
        logger.warning("judge endpoint %s: %s; retry %d/%d in %.1f s", endpoint.shown, problem,
                       endpoint.failures_in_a_row, self.max_retries, delay)

    def _judge_one(self, query: str, document: str, stop: threading.Event) -> Judgement | Skipped:
        import httpx

        path, body = self._request(query, document)
        headers = {"Authorization": f"Bearer {key}"} if (key := self._api_key()) else {}
        client = self._get_client()
        last_problem = "no attempt"
        attempts = (self.max_retries + 1) * len(self._endpoints)
        for _ in range(attempts):
            if stop.is_set():
                raise _Stopped
            endpoint = self._pick_endpoint(stop)
            retry_after = None
            try:
                response = client.post(endpoint.request_base + path, json=body, headers=headers,
                                       **({"auth": endpoint.auth} if endpoint.auth else {}))
            except httpx.TimeoutException:
                last_problem = f"timed out after {self.timeout_s:g} s"
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    with self._endpoint_lock:
                        endpoint.answered += 1
                        endpoint.failures_in_a_row = 0
                    try:
                        return self.parse(response.json())
                    except ValueError:
                        return Skipped("unparseable response: not JSON")
                if response.status_code not in RETRYABLE_STATUS:
                    hint = f" (is ${self.api_key_env} set and valid?)" if response.status_code in (401, 403) else ""
                    raise JudgeError(self._redact(
                        f"endpoint {endpoint.shown} answered HTTP {response.status_code}{hint}: "
                        f"{self._redact(response.text)[:200]!r}"))  # redacted before the cut: no half key
                last_problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
            self._record_failure(endpoint, last_problem, retry_after)
        where = f"endpoint {self.base_url}" if len(self._endpoints) == 1 else f"endpoints {self.base_url}"
        raise JudgeError(f"{where} failed {attempts} time{'s' if attempts > 1 else ''} (last: {last_problem})")

    def endpoint_report(self) -> list[str]:
        """One line per endpoint when there are several: answered, failed, dead and why."""
        if len(self._endpoints) == 1:
            return []
        return [f"endpoint {e.shown}: {e.answered:,} answered, {e.failed:,} failed"
                + (f"; {e.dead}, skipped" if e.dead else "") for e in self._endpoints]

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        results: list[Judgement | Skipped | None] = [None] * len(pairs)
        stop = threading.Event()
        fatal: JudgeError | None = None
        pool = self._get_pool()
        futures = {pool.submit(self._judge_one, query, document, stop): index
                   for index, (query, document) in enumerate(pairs)}
        # Every future is waited for: the pool outlives the batch, its requests do not.
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except _Stopped:
                pass
            except JudgeError as error:
                if fatal is None:
                    fatal = error
                    stop.set()
            except Exception as error:  # a bug or an odd library error: keep the batch's finished labels
                if fatal is None:
                    fatal = JudgeError(self._redact(f"request failed unexpectedly: {type(error).__name__}: {error}"))
                    stop.set()
        if fatal is not None:
            raise JudgeError(str(fatal), partial=results)
        return results  # type: ignore[return-value]
