"""LLM judge on vLLM (GPU throughput): the same prompts and read-out as ``LLMJudge``.

vLLM is optional and imported only when this judge is built; without it, building one is
an ``InputError`` saying how to install it. Generation is one token at temperature 0 with
the top ``top_logprobs`` log-probabilities; labels outside them count as probability 0.

vLLM's automatic prefix caching is on (``enable_prefix_caching=True`` unless the engine options
say otherwise) and each batch's prompts go to the engine grouped by query, so a query's
instructions + query are computed once and its candidates run behind them (the GPU form of
``bixse.judging.shared_prefix``); results come back in the order of the pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bixse.errors import InputError
from bixse.judging.base import Judge, Judgement, Pair, Skipped
from bixse.judging.identity import model_fingerprint
from bixse.judging.llm import prompt_token_ids, render_prompt
from bixse.judging.prompts import JudgeMode, PromptTemplate, default_prompt
from bixse.judging.scoring import judgement_from_label_logprobs, label_token_ids, logsumexp


# vllm.LLM options that set speed or memory, never the scores: left out of the judge's identity,
# so tuning them keeps the cached labels.
THROUGHPUT_ONLY_OPTIONS = frozenset({
    "enable_prefix_caching", "gpu_memory_utilization", "tensor_parallel_size", "pipeline_parallel_size",
    "max_num_seqs", "max_num_batched_tokens", "swap_space", "cpu_offload_gb", "enforce_eager",
    "disable_log_stats", "max_model_len", "seed",
})


class VLLMJudge(Judge):
    """Graded or yes/no relevance with vLLM's offline engine (``vllm.LLM``).

    ``engine_options`` go to ``vllm.LLM`` (``tensor_parallel_size``, ``gpu_memory_utilization``,
    ``max_model_len``...).

    Example::

        judge = VLLMJudge("Qwen/Qwen2.5-7B-Instruct", gpu_memory_utilization=0.8)
    """

    kind = "vllm"
    family = "llm"
    default_batch_size = 256

    def __init__(self, model: str | None = None, *, mode: JudgeMode | None = None, max_grade: int | None = None,
                 prompt: PromptTemplate | None = None, max_document_tokens: int = 512, max_query_tokens: int = 64,
                 top_logprobs: int = 20, identity: str | None = None, trust_remote_code: bool = False,
                 **engine_options: Any) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise InputError("the vllm judge needs vLLM and a GPU: pip install vllm "
                             "(or use --judge llm for transformers, or --judge http against a vLLM server)",
                             field="judge") from None
        if not model:
            raise InputError("a vllm judge needs --model", field="model")
        if prompt is not None and mode is not None and prompt.mode != mode:
            raise InputError(f"the prompt is a {prompt.mode!r} prompt but mode is {mode!r}", field="mode")
        self.prompt = prompt or default_prompt(mode or "grade")
        self.mode, self.max_grade = self.prompt.mode, self.prompt.top_grade(max_grade)
        self.labels = self.prompt.labels(self.max_grade)
        self.model_name_or_path = str(model)
        self.max_document_tokens, self.max_query_tokens = max_document_tokens, max_query_tokens
        self.top_logprobs, self.trust_remote_code = top_logprobs, trust_remote_code
        self.engine_options = {"enable_prefix_caching": True, **engine_options}
        self.name = Path(str(model)).name if Path(str(model)).exists() else str(model).rstrip("/").split("/")[-1]
        self.prompt_version = self.prompt.key
        self._model_identity = identity or model_fingerprint(model, revision=engine_options.get("revision"))
        self._llm: Any = None

    @property
    def identity(self) -> str:
        # Engine options that can change the scores (dtype, quantization, tokenizer, revision...)
        # are part of the judge; the ones that only set throughput or memory are not.
        scoring = {k: v for k, v in sorted(self.engine_options.items()) if k not in THROUGHPUT_ONLY_OPTIONS}
        options = "".join(f"|{k}={v}" for k, v in scoring.items())
        return (f"vllm:{self._model_identity}|mode={self.mode}|max_grade={self.max_grade}"
                f"|doc_tokens={self.max_document_tokens}|query_tokens={self.max_query_tokens}"
                f"|top_logprobs={self.top_logprobs}{options}")

    def _load(self) -> None:
        import vllm

        self._llm = vllm.LLM(model=self.model_name_or_path, trust_remote_code=self.trust_remote_code,
                             **self.engine_options)
        self._tokenizer = self._llm.get_tokenizer()
        self._label_ids = label_token_ids(self._tokenizer, self.labels)

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        import vllm

        if not pairs:
            return []
        if self._llm is None:
            self._load()
        # Grouped by query (first appearance order), so that shared prefixes meet in the engine's cache.
        first_seen = {query: rank for rank, query in reversed(list(enumerate(query for query, _ in pairs)))}
        order = sorted(range(len(pairs)), key=lambda index: (first_seen[pairs[index][0]], index))
        prompts = [render_prompt(self._tokenizer, self.prompt, pairs[index][0], pairs[index][1],
                                 max_grade=self.max_grade, max_query_tokens=self.max_query_tokens,
                                 max_document_tokens=self.max_document_tokens) for index in order]
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=self.top_logprobs)
        # Token ids, not text: vLLM tokenises a text prompt with the special tokens, so a chat
        # template's own BOS would come twice (Llama 3, Gemma); the transformers judge reads the same ids.
        tokens = [{"prompt_token_ids": prompt_token_ids(self._tokenizer, text)} for text in prompts]
        outputs = self._llm.generate(tokens, params, use_tqdm=False)
        results: list[Judgement | Skipped | None] = [None] * len(pairs)
        for index, output in zip(order, outputs):
            top = output.outputs[0].logprobs[0]  # token id -> Logprob(logprob=..., ...)
            label_logprobs = {label: logsumexp(top[i].logprob for i in ids if i in top)
                              for label, ids in self._label_ids.items()}
            results[index] = judgement_from_label_logprobs(label_logprobs, self.labels)
        return results  # type: ignore[return-value]
