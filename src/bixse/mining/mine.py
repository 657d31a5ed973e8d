"""Candidate mining: a retriever's top-k documents for a split's queries, as pairs to judge.

BiXSE labels the pairs a first-stage retriever actually surfaces (its hard negatives and the
relevant documents it finds), so the judge's budget goes where training needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bixse.collections.model import Collection
from bixse.errors import InputError
from bixse.io import check_output_file
from bixse.mining.candidates import Candidate, write_candidates


def mine_candidates(collection: Collection, split: str = "train", retriever_name: str | Path = "bm25",
                    top_k: int = 20, **retriever_options: Any) -> list[Candidate]:
    """Top ``top_k`` documents of ``retriever_name`` for every query of ``split``.

    ``retriever_name`` is ``bm25`` or a sentence-transformers model name or folder (see
    ``bixse.retrieval.get_retriever``; ``retriever_options`` go to it). Candidates come
    grouped by query in split order, best first, with texts filled in from ``collection``.

    Example::

        candidates = mine_candidates(load("cranfield"), "train", "bm25", top_k=20)
    """
    from bixse.retrieval import get_retriever

    if top_k < 1:
        raise InputError(f"top_k must be positive, got {top_k}", field="top_k")
    try:
        query_ids = collection.query_ids(split)
    except KeyError as error:
        raise InputError(str(error.args[0]), field="split") from None
    queries = {query_id: collection.queries[query_id] for query_id in query_ids}
    retriever = get_retriever(str(retriever_name), collection.corpus, **retriever_options)
    run = retriever.search(queries, top_k=top_k)
    label = str(retriever_name) if str(retriever_name) == "bm25" else Path(str(retriever_name)).name
    candidates = []
    for query_id in query_ids:
        # Ties broken by doc id so a rerun writes the same file.
        ranked = sorted(run.get(query_id, {}).items(), key=lambda item: (-item[1], item[0]))[:top_k]
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            candidates.append(Candidate(query_id, doc_id, rank, float(score), label, queries[query_id],
                                        collection.corpus[doc_id].full_text))
    return candidates


def mine_to_file(collection: Collection, output: str | Path, split: str = "train", retriever_name: str | Path = "bm25",
                 top_k: int = 20, with_texts: bool = False, **retriever_options: Any) -> list[Candidate]:
    """``mine_candidates`` written to ``output`` as a candidates file (what ``bixse mine`` does)."""
    check_output_file(output)
    candidates = mine_candidates(collection, split, retriever_name, top_k, **retriever_options)
    write_candidates(output, candidates, with_texts=with_texts)
    return candidates
