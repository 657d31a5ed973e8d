"""The grade read-out: expected grade / max grade from label log-probabilities, by hand."""

from __future__ import annotations

import math

import pytest
from transformers import AutoTokenizer

from bixse.errors import InputError
from bixse.judging.base import Judgement, Skipped
from bixse.judging.scoring import (
    judgement_from_label_logprobs,
    label_spellings,
    label_token_ids,
    logsumexp,
    match_label,
)

GRADES = ("0", "1", "2", "3")


def test_expected_grade_over_renormalised_label_probabilities() -> None:
    # Raw next-token probabilities 0.1, 0.2, 0.1, 0.2 (mass 0.6; the rest went to other tokens).
    raw = {"0": 0.1, "1": 0.2, "2": 0.1, "3": 0.2}
    judgement = judgement_from_label_logprobs({k: math.log(v) for k, v in raw.items()}, GRADES)
    assert isinstance(judgement, Judgement)
    expected_distribution = {k: v / 0.6 for k, v in raw.items()}
    for label in GRADES:
        assert judgement.distribution[label] == pytest.approx(expected_distribution[label])
    # (0*1 + 1*2 + 2*1 + 3*2) / 6 / 3 = 10/18
    assert judgement.score == pytest.approx(10 / 18)
    assert judgement.extras["label_mass"] == pytest.approx(0.6)
    assert judgement.grade in (1, 3)  # tie between 1 and 3 at 1/3 each


def test_missing_labels_count_as_zero_and_no_label_is_a_skip() -> None:
    judgement = judgement_from_label_logprobs({"3": math.log(0.05)}, GRADES)
    assert judgement.score == pytest.approx(1.0)
    assert judgement.distribution["0"] == 0.0
    assert judgement.grade == 3
    assert isinstance(judgement_from_label_logprobs({}, GRADES), Skipped)


def test_yes_no_score_is_p_yes() -> None:
    judgement = judgement_from_label_logprobs({"yes": math.log(0.3), "no": math.log(0.1)}, ("yes", "no"))
    assert judgement.score == pytest.approx(0.75)
    assert judgement.grade is None


def test_logsumexp_is_stable_and_ignores_minus_infinity() -> None:
    assert logsumexp([-1000.0, -1000.0]) == pytest.approx(-1000.0 + math.log(2))
    assert logsumexp([-math.inf, math.log(0.5)]) == pytest.approx(math.log(0.5))
    assert logsumexp([]) == -math.inf


def test_label_token_ids_on_smollm2_tokenizer(smollm2_tokenizer_dir) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    ids = label_token_ids(tokenizer, GRADES)
    # SmolLM2 writes digits as single tokens 32..35; " 0" is two tokens, so not a spelling.
    assert ids == {"0": [32], "1": [33], "2": [34], "3": [35]}
    yes_no = label_token_ids(tokenizer, ("yes", "no"))
    assert set(yes_no["yes"]) == {tokenizer.encode(s, add_special_tokens=False)[0]
                                  for s in ("yes", "Yes", " yes", " Yes")}
    with pytest.raises(InputError, match="'10' is not a single token"):
        label_token_ids(tokenizer, ("0", "10"))


def test_label_spellings_and_endpoint_token_matching() -> None:
    assert set(label_spellings("yes")) == {"yes", "Yes", " yes", " Yes"}
    assert match_label(" 2", GRADES) == "2"
    assert match_label("YES", ("yes", "no")) == "yes"
    assert match_label("22", GRADES) is None


def test_judgement_clamps_round_off_and_rejects_nan() -> None:
    assert Judgement(score=1.0000000002).score == 1.0
    with pytest.raises(ValueError):
        Judgement(score=float("nan"))
