"""Judge agreement with NIST on llmjudge-dl23's test pairs: Cohen's kappa of bixse's packaged
judges next to two LLMJudge label sets, each computed by ``bixse.judging.agreement_report``.

- two LLMJudge submissions read back through the file judge (``--judge file``): Olz-gpt4o
  (GPT-4o, CoT) and NISTRetrieval-instruct0 (Llama-3-8B-Instruct); their published κ are read
  from the label sets' README table, so the row shows whether ``agreement_report`` reproduces
  them;
- the packaged bi-encoder teacher (all-MiniLM-L6-v2, cosine clipped at 0; grade = score rounded
  onto 0-3), on all pairs;
- the packaged LLM judge (SmolLM2-135M, UMBRELA prompt, expected-grade read-out; grade = its
  most probable grade), on a stratified sample of ``--llm-sample`` pairs (it runs at about one
  judgement a second here), where every other judge is scored too, for a like-for-like column.

κ4: unweighted Cohen's kappa on grades 0-3; κ2: on binary relevance, grade >= 2 (LLMJudge's
definitions). Run: ``.venv/bin/python bench/kappa.py [--llm-sample 200] [--write]``.
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import random
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from readme_section import publish

from bixse.collections import load
from bixse.environment import describe_cpu
from bixse.judging import BiEncoderJudge, LLMJudge, get_judge, judge_candidates
from bixse.judging.agreement import agreement_report, judge_grades
from bixse.judging.prompts import get_prompt
from bixse.mining import Candidate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "beir" / "llmjudge-dl23"
LABEL_SETS = ("Olz__gpt4o", "NISTRetrieval__instruct0")


def test_candidates(collection) -> list[Candidate]:
    test = collection.subset("test")
    return [Candidate(query_id, doc_id, 0, 0.0, "qrels", test.queries[query_id], collection.corpus[doc_id].full_text)
            for query_id, judged in sorted(test.qrels.items()) for doc_id in sorted(judged)]


def stratified_sample(candidates: list[Candidate], qrels, size: int, seed: int = 0) -> list[Candidate]:
    """``size`` pairs, the same share of each NIST grade as in all pairs (seeded)."""
    by_grade: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        by_grade.setdefault(qrels[candidate.query_id][candidate.doc_id], []).append(candidate)
    rng = random.Random(seed)
    sample = []
    for grade, members in sorted(by_grade.items()):
        sample += rng.sample(members, round(size * len(members) / len(candidates)))
    return sample


def published_kappas() -> dict[str, tuple[float, float]]:
    """(κ4, κ2) per label set, read from the label sets' README table."""
    table = (DATA / "llm-labels" / "README.md").read_text()
    found = {}
    for name in LABEL_SETS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}.tsv`"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        found[name] = (float(cells[11]), float(cells[12]))  # the κ4 and κ2 columns
    return found


def kappas(candidates, judgements, qrels, name: str) -> tuple[float, float, int]:
    scores = [None if j is None else j.score for j in judgements]
    report = agreement_report(candidates, scores, qrels, judge=name, grades=judge_grades(judgements, 3), max_grade=3)
    view = report.views["judged_only"]
    return view.kappa_graded, view.kappa_binary, view.pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-sample", type=int, default=200, help="pairs the LLM judge labels (stratified)")
    parser.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    args = parser.parse_args()
    collection = load(str(DATA))
    qrels = collection.subset("test").qrels
    candidates = test_candidates(collection)
    sample = stratified_sample(candidates, qrels, args.llm_sample)
    judges = {f"file: {name}": get_judge("file", labels=DATA / "llm-labels" / f"{name}.tsv", max_grade=3,
                                         collection=collection) for name in LABEL_SETS}
    judges["bi-encoder: all-MiniLM-L6-v2 (packaged)"] = BiEncoderJudge()
    judges["llm: SmolLM2-135M (packaged), umbrela prompt"] = LLMJudge(prompt=get_prompt("umbrela"))
    published = published_kappas()
    rows, seconds = [], {}
    for label, judge in judges.items():
        on_all = not label.startswith("llm:")
        start = time.perf_counter()
        result = judge_candidates(candidates if on_all else sample, judge)
        seconds[label] = time.perf_counter() - start
        labelled = dict(zip(((c.query_id, c.doc_id) for c in (candidates if on_all else sample)),
                            result.judgements))
        sampled = [labelled[(c.query_id, c.doc_id)] for c in sample]
        full = kappas(candidates, result.judgements, qrels, label) if on_all else None
        part = kappas(sample, sampled, qrels, label)
        name = label.removeprefix("file: ")
        paper = published.get(name)
        rows.append(f"| {label} | " + (f"{full[0]:.4f} | {full[1]:.4f} | " if full else "- | - | ")
                    + f"{part[0]:.4f} | {part[1]:.4f} | "
                    + (f"{paper[0]:.4f} / {paper[1]:.4f}" if paper else "-")
                    + f" | {seconds[label]:.0f} |")
    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {describe_cpu()}, {THREADS} torch threads; "
             f"llmjudge-dl23 test: {len(candidates):,} NIST-judged pairs, {len(qrels)} queries; the sample: "
             f"{len(sample)} pairs stratified by NIST grade (seed 0). Command: "
             f"`.venv/bin/python bench/kappa.py --llm-sample {args.llm_sample} --write`.", "",
             f"| judge | κ4 all | κ2 all | κ4 sample | κ2 sample | published κ4 / κ2 | judging s |",
             "|---|---:|---:|---:|---:|---:|---:|", *rows, "",
             "κ4: unweighted Cohen's kappa on grades 0-3; κ2: on grade >= 2, against NIST. Published: the LLMJudge "
             "paper's Table 3 (arXiv 2502.13908), from the label sets' README. The bi-encoder's grade is its score "
             "rounded onto 0-3; the LLM's, its most probable grade. A sample of "
             f"{len(sample)} pairs gives kappas to about ±0.1: the LLM row says whether SmolLM2 is near chance, not "
             "where among the LLMJudge sets it falls."]
    publish("kappa", lines, args.write)


if __name__ == "__main__":
    main()
