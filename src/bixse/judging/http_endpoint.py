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
  jitter (``backoff_s * 2**attempt``, honouring ``Retry-After``), ``max_retries`` times; then a
  ``JudgeError`` stops the run.
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


class HTTPJudge(Judge):
    """Graded or yes/no relevance from an OpenAI-compatible endpoint's token log-probabilities.

    Example (a local vLLM server)::

        judge = HTTPJudge("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")
    """

    kind = "http"
    family = "llm"
    default_batch_size = 32

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
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
        import httpx

        if not model:
            raise InputError("an HTTP judge needs --model (the model name the endpoint serves)", field="model")
        if endpoint not in ("chat", "completions"):
            raise InputError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}", field="endpoint")
        if prompt is not None and mode is not None and prompt.mode != mode:
            raise InputError(f"the prompt is a {prompt.mode!r} prompt but mode is {mode!r}", field="mode")
        try:
            url = httpx.URL(base_url)
        except Exception:
            raise InputError(f"not a URL: {base_url!r}", field="base_url") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InputError("base URL must be http(s)://host[:port]/path", field="base_url")
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise InputError("need max_concurrency >= 1, max_retries >= 0, timeout_s > 0", field="max_concurrency")
        self.model = model
        self.prompt = prompt or default_prompt(mode or "grade")
        self.mode, self.max_grade = self.prompt.mode, self.prompt.top_grade(max_grade)
        self.labels = self.prompt.labels(self.max_grade)
        # Credentials in a URL (user:password@host) stay out of identities and messages.
        port = f":{url.port}" if url.port else ""
        self.base_url = f"{url.scheme}://{url.host}{port}{url.path.rstrip('/')}"
        self._request_base = str(url).rstrip("/")
        self.endpoint, self.top_logprobs, self.max_document_chars = endpoint, top_logprobs, max_document_chars
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.max_concurrency, self.api_key_env = max_concurrency, api_key_env
        self.name = model.rstrip("/").split("/")[-1]
        self.prompt_version = self.prompt.key
        self._identity = identity or f"{model}@{self.base_url}"
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

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
                limits = httpx.Limits(max_connections=self.max_concurrency,
                                      max_keepalive_connections=self.max_concurrency)
                self._client = httpx.Client(timeout=self.timeout_s, limits=limits)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request_body(self, query: str, document: str) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body sent for one pair."""
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
            return f"{self._request_base}/chat/completions", body
        return f"{self._request_base}/completions", {
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

    def _judge_one(self, query: str, document: str, stop: threading.Event) -> Judgement | Skipped:
        import httpx

        url, body = self.request_body(query, document)
        headers = {"Authorization": f"Bearer {key}"} if (key := self._api_key()) else {}
        client = self._get_client()
        last_problem = "no attempt"
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise _Stopped
            retry_after = None
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                last_problem = f"timed out after {self.timeout_s:g} s"
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    try:
                        return self.parse(response.json())
                    except ValueError:
                        return Skipped("unparseable response: not JSON")
                if response.status_code not in RETRYABLE_STATUS:
                    hint = f" (is ${self.api_key_env} set and valid?)" if response.status_code in (401, 403) else ""
                    raise JudgeError(self._redact(
                        f"endpoint {self.base_url} answered HTTP {response.status_code}{hint}: "
                        f"{response.text[:200]!r}"))
                last_problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
            if attempt < self.max_retries:
                delay = self._backoff(attempt, retry_after)
                logger.warning("judge endpoint %s: %s; retry %d/%d in %.1f s", self.base_url, last_problem,
                               attempt + 1, self.max_retries, delay)
                if stop.wait(delay):
                    raise _Stopped
        attempts = self.max_retries + 1
        raise JudgeError(f"endpoint {self.base_url} failed {attempts} time{'s' if attempts > 1 else ''} "
                         f"(last: {last_problem})")

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        results: list[Judgement | Skipped | None] = [None] * len(pairs)
        stop = threading.Event()
        fatal: JudgeError | None = None
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="bixse-judge") as pool:
            futures = {pool.submit(self._judge_one, query, document, stop): index
                       for index, (query, document) in enumerate(pairs)}
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
