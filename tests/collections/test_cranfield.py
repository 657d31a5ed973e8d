"""The embedded Cranfield default: counts after the documented cleaning, gains, fixed split."""

from bixse.collections import CLEVERDON_GRADE_TO_GAIN, load


def test_counts_after_documented_cleaning(cranfield):
    # 1,400 source documents less the two empty records (471, 995); one judgement named 995.
    assert len(cranfield.corpus) == 1398
    assert "471" not in cranfield.corpus and "995" not in cranfield.corpus
    assert len(cranfield.queries) == 225
    assert cranfield.num_judgements() == 1836


def test_grades_are_mapped_to_gains(cranfield):
    # Source histogram: -1 x225, 1 x128, 2 x387, 3 x734 (one dropped with doc 995), 4 x363.
    assert cranfield.grade_histogram() == {0: 225, 1: 363, 2: 733, 3: 387, 4: 128}
    assert CLEVERDON_GRADE_TO_GAIN == {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}
    # cranqrel's first line is "1 184 2": Cleverdon grade 2 -> gain 3.
    assert cranfield.qrels["1"]["184"] == 3


def test_queries_are_numbered_in_file_order(cranfield):
    # The file's third query is ".I 004"; the qrels call it query 3.
    assert cranfield.queries["3"].startswith("what problems of heat conduction in composite slabs")


def test_split_is_fixed_disjoint_and_complete(cranfield):
    train, dev, test = (set(cranfield.query_ids(s)) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (125, 25, 75)
    assert not (train & dev or train & test or dev & test)
    assert train | dev | test == set(cranfield.queries)
    # Pinned: a change to the split would silently invalidate every reported figure.
    assert sorted(test, key=int)[:5] == ["5", "10", "11", "12", "15"]


def test_subset_keeps_corpus_and_restricts_queries(cranfield):
    dev = cranfield.subset("dev")
    assert set(dev.queries) == set(cranfield.query_ids("dev"))
    assert set(dev.qrels) <= set(dev.queries)
    assert dev.corpus is cranfield.corpus


def test_load_is_cached():
    assert load("cranfield") is load("cranfield")


def test_repr_is_a_one_line_summary(cranfield):
    assert repr(cranfield) == ("Collection('cranfield', 1,398 documents, 225 queries, 1,836 judgements, "
                               "splits: train/dev/test)")
    assert repr(cranfield.subset("test")) == ("Collection('cranfield/test', 1,398 documents, 75 queries, "
                                              "596 judgements, splits: all)")
