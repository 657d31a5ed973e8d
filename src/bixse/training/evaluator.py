"""Dev-set evaluation during training: nDCG@10 (and friends) through ``bixse.evaluation``.

A sentence-transformers evaluator, so ``SentenceTransformerTrainer`` calls it every
``eval_steps`` and logs its scores (as ``eval_nDCG@10`` ...) beside the training loss. The
scores are the same numbers ``bixse eval`` prints for a saved model on the same split.
"""

from __future__ import annotations

from typing import Any

from sentence_transformers.base.evaluation import BaseEvaluator

from bixse.collections import Collection

DEV_MEASURES = ("nDCG@10", "MRR@10", "R@100")


class DevEvaluator(BaseEvaluator):
    """Retrieve the split's queries over the whole corpus and score them on its qrels."""

    def __init__(self, collection: Collection, split: str = "dev", measures: tuple[str, ...] = DEV_MEASURES,
                 batch_size: int = 64, precision: str = "fp32") -> None:
        super().__init__()
        self.collection, self.split, self.measures, self.batch_size = collection, split, measures, batch_size
        self.precision = precision
        self.primary_metric = measures[0]
        self.history: list[dict[str, Any]] = []

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1,
                 steps: int = -1) -> dict[str, float]:
        from bixse.evaluation import evaluate_model

        was_training = model.training
        result = evaluate_model(model, self.collection, self.split, measures=self.measures,
                                precision=self.precision, batch_size=self.batch_size, cache=False, show_progress=False)
        model.train(was_training)
        scores = {measure: float(result.aggregate[measure]) for measure in self.measures}
        self.history.append({"step": steps, "epoch": epoch, **scores})
        return scores

    def get_config_dict(self) -> dict[str, Any]:
        return {"collection": self.collection.name, "split": self.split, "measures": list(self.measures)}
