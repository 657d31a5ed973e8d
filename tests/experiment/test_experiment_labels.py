"""Label transforms: seeded flips shared by every loss, cutoffs, binarisation."""

from __future__ import annotations

import pytest

from bixse.collections.training_data import GradedPair
from bixse.experiment.config import Transform
from bixse.experiment.labels import positive_threshold, transformed

PAIRS = [GradedPair(f"q{i % 7}", f"d{i}", score=(i % 5) / 4, query_id=f"q{i % 7}", doc_id=f"d{i}")
         for i in range(400)]


def test_flip_turns_y_into_one_minus_y_for_about_p_of_the_pairs():
    flipped = transformed(PAIRS, Transform("flip", 0.2), seed=3)
    changed = [(a, b) for a, b in zip(PAIRS, flipped) if a is not b]
    assert 0.15 * len(PAIRS) < len(changed) < 0.25 * len(PAIRS)
    assert all(b.score == pytest.approx(1 - a.score) for a, b in changed)
    assert all(b.source.endswith("+flip") for _, b in changed)


def test_the_same_seed_flips_the_same_pairs_and_another_seed_others():
    once = [p.score for p in transformed(PAIRS, Transform("flip", 0.5), seed=1)]
    again = [p.score for p in transformed(PAIRS, Transform("flip", 0.5), seed=1)]
    other = [p.score for p in transformed(PAIRS, Transform("flip", 0.5), seed=2)]
    assert once == again and once != other


def test_flip_extremes():
    assert [p.score for p in transformed(PAIRS, Transform("flip", 0.0), 0)] == [p.score for p in PAIRS]
    assert [p.score for p in transformed(PAIRS, Transform("flip", 1.0), 0)] == [1 - p.score for p in PAIRS]


def test_cutoff_drops_pairs_below_it_and_makes_the_rest_positives():
    kept = transformed(PAIRS, Transform("cutoff", 0.5), 0)
    assert {p.score for p in kept} == {0.5, 0.75, 1.0}
    assert len(kept) == sum(p.score >= 0.5 for p in PAIRS)
    assert positive_threshold(Transform("cutoff", 0.25), 0.5) == 0.25
    assert positive_threshold(Transform("flip", 0.25), 0.5) == 0.5


def test_binarize_at_t():
    binary = transformed(PAIRS, Transform("binarize", 0.5), 0)
    assert [p.score for p in binary] == [float(p.score >= 0.5) for p in PAIRS]
