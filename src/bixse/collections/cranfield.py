"""The embedded default collection: Cranfield 1400, shipped compressed inside the package.

Source: the Cranfield collection (Cleverdon, 1967), as distributed in the SMART format with
Donna Harman's graded qrels (see ``data/cranfield/cranqrel.readme.gz``). 1,400 aeronautics
abstracts, 225 queries, 1,837 graded judgements.

Cleaning, applied at load time and reported by ``bixse collection info cranfield``:

- Documents 471 and 995 have neither title nor text in the source; they are dropped, and so is
  the one judgement that names one of them (query 125, document 995): 1,398 documents and
  1,836 judgements remain.
- The queries' ``.I`` numbers have gaps; the qrels number the queries 1..225 in file order, so
  query ids here are those positions (the collection's well-known quirk).
- Cleverdon's grades (1 = complete answer ... 4 = minimum interest, -1 = judged, unclear; lower
  is better) become gains, higher is better: 1->4, 2->3, 3->2, 4->1, -1->0.

The query split (train 125 / dev 25 / test 75) is fixed in ``data/cranfield/splits.json``,
drawn once with a seeded shuffle; every command refers to it by name. Never tune on ``test``.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources

from bixse.collections.model import Collection, Qrels
from bixse.collections.smart import read_smart_documents, read_smart_queries
from bixse.collections.trec import parse_trec_qrels
from bixse.collections.validation import KnownIds

CLEVERDON_GRADE_TO_GAIN = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}
_DATA = "bixse.collections.data.cranfield"


def _read_lines(name: str) -> list[str]:
    raw = resources.files(_DATA).joinpath(f"{name}.gz").read_bytes()
    return gzip.decompress(raw).decode("utf-8").splitlines()


@lru_cache(maxsize=1)
def load_cranfield() -> Collection:
    """Cranfield with gains and the fixed train/dev/test split (cached: loading takes ~0.1 s)."""
    corpus, empty_doc_ids = read_smart_documents(_read_lines("cran.all.1400"), "cran.all.1400")
    queries = read_smart_queries(_read_lines("cran.qry"), "cran.qry", number_in_file_order=True)
    qrels = _read_cleverdon_qrels(queries, corpus, set(empty_doc_ids))
    split_spec = json.loads(resources.files(_DATA).joinpath("splits.json").read_text())
    splits = {name: tuple(split_spec[name]) for name in ("train", "dev", "test")}
    return Collection(
        name="cranfield",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        splits=splits,
        description="Cranfield 1400 (aeronautics abstracts), graded qrels, gains 1->4 2->3 3->2 4->1 -1->0",
    )


def _read_cleverdon_qrels(queries: dict[str, str], corpus: dict, dropped_doc_ids: set[str]) -> Qrels:
    # cranqrel has three columns (qid docid grade); TREC qrels have four, so insert the iteration.
    lines = [
        "" if not line.strip() or line.split()[1] in dropped_doc_ids else "{} 0 {} {}".format(*line.split())
        for line in _read_lines("cranqrel")
    ]
    qrels = parse_trec_qrels(lines, "cranqrel", KnownIds(queries, corpus, unknown_ids="error"))
    return {q: {d: CLEVERDON_GRADE_TO_GAIN[g] for d, g in docs.items()} for q, docs in qrels.items()}
