"""A "judge" that reads its grades from a qrels file (``--judge file --labels FILE --max-grade G``).

Any external label set, an LLMJudge submission, UMBRELA's output, a second assessor, goes
through the same agreement report and export as a live judge. The file is a TREC qrels
(``qid iter docid grade``) or BEIR qrels TSV (``query-id corpus-id score``), read and
validated by ``bixse.collections.read_qrels_labels`` against the collection its ids refer to;
``score = grade / max_grade``, and the distribution puts all its mass on the file's grade.

The runner asks this judge by (query id, document id) (``by_ids``), not by texts, and caches
nothing: the labels are already on disk, and the cache's text keys would merge duplicate
passages that the file grades apart. (On llmjudge-dl23's 4,423 test pairs, MS MARCO v2's
duplicate passages leave 3,918 distinct texts, 38 of them graded two ways by ``Olz__gpt4o``;
keyed by text its 4-grade kappa would read 0.2612, not the published 0.2625.) Asked by texts
(``judge``, e.g. through ``label_pairs``), a text pair the file grades several times scores the
mean of those grades, with their frequencies as the distribution.

Example::

    judge = FileJudge("llm-labels/Olz__gpt4o.tsv", max_grade=3, collection=load("path/to/llmjudge-dl23"))
    judge.judge_ids([("2002168", "msmarco_passage_00_662986293")])[0].score     # 2 / 3
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from bixse.collections.label_import import read_qrels_labels
from bixse.collections.model import Collection
from bixse.errors import InputError
from bixse.io import file_sha256
from bixse.judging.base import Judge, Judgement, Pair, Skipped
from bixse.judging.identity import text_sha256
from bixse.judging.prompts import grade_labels

NOT_IN_FILE = "pair not graded in the labels file"


class FileJudge(Judge):
    """Grades looked up in a qrels file; see the module docstring.

    Args:
        labels: the qrels file (TREC or BEIR layout).
        max_grade: the top grade of the file's scale (3 for TREC DL / UMBRELA 0-3); a grade
            above it is an ``InputError`` naming the line.
        collection: the collection the file's ids refer to (``--collection``); every id must be in it.
    """

    kind = "file"
    family = "qrels"
    default_batch_size = 1024
    by_ids = True

    def __init__(self, labels: str | Path | None = None, *, max_grade: int | None = None,
                 collection: Collection | None = None) -> None:
        if labels is None:
            raise InputError("the file judge needs --labels: a TREC or BEIR qrels file", field="labels")
        if max_grade is None:
            raise InputError("the file judge needs --max-grade: the top grade of the file's scale, e.g. 3",
                             field="max_grade")
        if collection is None:
            raise InputError("the file judge needs --collection: the collection the labels' ids refer to",
                             field="collection")
        self.path = Path(labels)
        self.max_grade = max_grade
        self.labels = grade_labels(max_grade)
        imported = read_qrels_labels(self.path, collection, max_grade)
        self.grades_by_id: dict[tuple[str, str], int] = {}
        by_text: dict[tuple[str, str], list[int]] = defaultdict(list)
        for pair in imported.pairs:
            assert pair.query_id is not None and pair.doc_id is not None and pair.grade is not None
            self.grades_by_id[(pair.query_id, pair.doc_id)] = pair.grade
            by_text[(text_sha256(pair.query), text_sha256(pair.document))].append(pair.grade)
        self.grades_by_text = dict(by_text)
        self.texts_graded_apart = sum(len(set(grades)) > 1 for grades in self.grades_by_text.values())
        self.name = self.path.stem
        self._digest = file_sha256(self.path)[:16]

    @property
    def identity(self) -> str:
        return f"file:{self.name}@{self._digest}|max_grade={self.max_grade}"

    def _judgement(self, grades: Sequence[int]) -> Judgement:
        counts = Counter(grades)
        distribution = {label: counts[int(label)] / len(grades) for label in self.labels}
        return Judgement(score=sum(grades) / len(grades) / self.max_grade, distribution=distribution)

    def judge_ids(self, ids: Sequence[tuple[str, str]]) -> list[Judgement | Skipped]:
        results: list[Judgement | Skipped] = []
        for key in ids:
            grade = self.grades_by_id.get(key)
            results.append(Skipped(NOT_IN_FILE) if grade is None else self._judgement([grade]))
        return results

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement | Skipped]:
        results: list[Judgement | Skipped] = []
        for query, document in pairs:
            grades = self.grades_by_text.get((text_sha256(query), text_sha256(document)))
            results.append(Skipped(NOT_IN_FILE) if not grades else self._judgement(grades))
        return results
