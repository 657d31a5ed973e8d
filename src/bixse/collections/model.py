"""The data model of a test collection: corpus, queries, graded qrels and named query splits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

# query id -> doc id -> integer grade (gain); the shape ir_measures and pytrec_eval take.
Qrels = dict[str, dict[str, int]]
# query id -> doc id -> retrieval score; the shape of a TREC run.
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Document:
    """One corpus document. ``title`` may be empty; ``text`` may not."""

    doc_id: str
    text: str
    title: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR-trained encoders saw them.

        A title the text already starts with (as in Cranfield) is not repeated.
        """
        if not self.title or self.text.startswith(self.title):
            return self.text
        return f"{self.title} {self.text}"


@dataclass(frozen=True)
class Collection:
    """A test collection.

    ``qrels`` hold integer gains (higher is more relevant, 0 = judged non-relevant).
    ``splits`` name disjoint sets of query ids (``train``, ``dev``, ``test``) that every
    command refers to by name; a collection without splits has the single split ``all``.
    """

    name: str
    corpus: Mapping[str, Document]
    queries: Mapping[str, str]
    qrels: Qrels
    splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def __repr__(self) -> str:
        # A summary, not the corpus: the generated repr of a real collection runs to megabytes.
        return (f"Collection({self.name!r}, {len(self.corpus):,} documents, {len(self.queries):,} queries, "
                f"{self.num_judgements():,} judgements, splits: {'/'.join(self.split_names())})")

    def split_names(self) -> list[str]:
        return list(self.splits) if self.splits else ["all"]

    def query_ids(self, split: str = "all") -> tuple[str, ...]:
        """Query ids of ``split``; ``all`` is every query, in collection order."""
        if split == "all":
            return tuple(self.queries)
        if split not in self.splits:
            known = ", ".join(self.split_names())
            raise KeyError(f"collection '{self.name}' has no split '{split}' (known: {known})")
        return self.splits[split]

    def subset(self, split: str) -> Collection:
        """The same corpus with only the queries and qrels of ``split``."""
        if split == "all":
            return self
        ids = self.query_ids(split)
        return Collection(
            name=f"{self.name}/{split}",
            corpus=self.corpus,
            queries={qid: self.queries[qid] for qid in ids},
            qrels={qid: dict(self.qrels[qid]) for qid in ids if qid in self.qrels},
            splits={},
            description=self.description,
        )

    def num_judgements(self) -> int:
        return sum(len(docs) for docs in self.qrels.values())

    def grade_histogram(self) -> dict[int, int]:
        """Count of judgements per grade, sorted by grade."""
        counts = Counter(grade for docs in self.qrels.values() for grade in docs.values())
        return dict(sorted(counts.items()))

    def max_grade(self) -> int:
        return max((g for docs in self.qrels.values() for g in docs.values()), default=1)
