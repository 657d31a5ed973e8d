"""Mining BM25 candidates for a split's queries, and `bixse mine` on the command line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bixse.cli import app
from bixse.errors import InputError
from bixse.mining import mine_candidates, read_candidates


@pytest.fixture(scope="module")
def train_candidates(cranfield):
    return mine_candidates(cranfield, "train", "bm25", top_k=5)


def test_bm25_candidates_cover_the_train_split_only(cranfield, train_candidates) -> None:
    train = set(cranfield.query_ids("train"))
    mined = [c.query_id for c in train_candidates]
    assert set(mined) == train and len(train) == 125
    assert not set(mined) & (set(cranfield.query_ids("dev")) | set(cranfield.query_ids("test")))
    assert len(train_candidates) == 5 * len(train)
    # Grouped by query in split order, ranks 1..5, scores non-increasing.
    assert list(dict.fromkeys(mined)) == list(cranfield.query_ids("train"))
    for start in range(0, len(train_candidates), 5):
        group = train_candidates[start:start + 5]
        assert [c.rank for c in group] == [1, 2, 3, 4, 5]
        assert all(a.score >= b.score for a, b in zip(group, group[1:]))
        assert len({c.doc_id for c in group}) == 5


def test_candidates_carry_texts_and_match_the_retriever(cranfield, train_candidates) -> None:
    from bixse.retrieval import get_retriever

    first = train_candidates[0]
    assert first.retriever == "bm25"
    assert first.query == cranfield.queries[first.query_id]
    assert first.document == cranfield.corpus[first.doc_id].full_text
    run = get_retriever("bm25", cranfield.corpus).search({first.query_id: first.query}, top_k=5)
    best = max(run[first.query_id].items(), key=lambda item: item[1])
    assert (first.doc_id, first.score) == (best[0], pytest.approx(best[1]))
    # BM25 finds some of query 1's human-judged documents in its top 5.
    top = {c.doc_id for c in train_candidates if c.query_id == "1"}
    assert top & set(cranfield.qrels["1"])


def test_bad_mining_options(cranfield) -> None:
    with pytest.raises(InputError, match="no split 'validation'"):
        mine_candidates(cranfield, "validation")
    with pytest.raises(InputError, match="top_k must be positive"):
        mine_candidates(cranfield, "train", top_k=0)


def test_mine_command_writes_a_candidates_file(tmp_path, cranfield) -> None:
    output = tmp_path / "candidates.jsonl"
    result = CliRunner().invoke(app, ["mine", "-c", "cranfield", "--split", "dev", "-k", "3", "-o", str(output)])
    assert result.exit_code == 0, result.output
    dev = cranfield.query_ids("dev")
    assert f"wrote {3 * len(dev)} candidates for {len(dev)} queries" in result.output
    without_texts = read_candidates(output, cranfield)
    assert {c.query_id for c in without_texts} == set(dev)
    assert '"query"' not in output.read_text().splitlines()[0], "ids only unless --with-texts"
    texts = CliRunner().invoke(app, ["mine", "--split", "dev", "-k", "3", "--with-texts", "-o", str(output)])
    assert texts.exit_code == 0, texts.output
    with_texts = read_candidates(output)  # no collection needed
    assert [c.document for c in with_texts] == [c.document for c in without_texts]
