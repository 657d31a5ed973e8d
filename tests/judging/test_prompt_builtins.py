"""The field's prompts as built-ins: UMBRELA's (0-3, "##final score:") and BiXSE's (1-4), their
rendering, the grade read-out after the answer prefix, and what a prompt must name."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import pytest

from bixse.errors import InputError
from bixse.judging.prompts import (
    BIXSE_PROMPT,
    GRADE_PROMPT,
    PROMPTS,
    UMBRELA_PROMPT,
    YESNO_PROMPT,
    PromptTemplate,
    get_prompt,
)
from bixse.judging.scoring import judgement_from_label_logprobs

# sha256 of castorini/umbrela @ 16cba3eb, src/umbrela/prompts/qrel_zeroshot_bing.txt (1,341 characters).
UMBRELA_UPSTREAM_SHA256 = "c92537a4f97293dfe1fd5f3dccc3f7dea44e3ace65061a74dbf8afc833441546"


def test_builtin_names_and_versioned_keys() -> None:
    assert list(PROMPTS) == ["umbrela", "bixse", "umbrela-grade", "relevance-yesno"]
    assert get_prompt("umbrela") is UMBRELA_PROMPT and get_prompt("bixse") is BIXSE_PROMPT
    assert get_prompt("umbrela-grade") is GRADE_PROMPT and get_prompt("relevance-yesno") is YESNO_PROMPT
    assert UMBRELA_PROMPT.key.startswith("umbrela/1#") and BIXSE_PROMPT.key.startswith("bixse/1#")
    assert len({prompt.key for prompt in PROMPTS.values()}) == 4
    # The default prompt's key must not move: every label cached with it would be lost.
    assert GRADE_PROMPT.key == "umbrela-grade/1#e77f5a11" and YESNO_PROMPT.key == "relevance-yesno/1#a1442872"
    assert "2406.06519" in UMBRELA_PROMPT.source and "2508.06781" in BIXSE_PROMPT.source


def test_umbrela_is_the_upstream_text() -> None:
    upstream = UMBRELA_PROMPT.user.replace("{document}", "{passage}")
    assert hashlib.sha256(upstream.encode()).hexdigest() == UMBRELA_UPSTREAM_SHA256


def test_umbrela_renders_as_specified() -> None:
    messages = UMBRELA_PROMPT.messages("what is a shock wave", "A shock wave is a propagating disturbance.")
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    lines = messages[1]["content"].split("\n")
    assert lines[0] == ("Given a query and a passage, you must provide a score on an integer scale of 0 to 3 "
                        "with the following meanings:")
    assert lines[1] == "0 = represent that the passage has nothing to do with the query, "
    assert lines[4] == "3 = represents that the passage is dedicated to the query and contains the exact answer."
    assert lines[6].startswith("Important Instruction: Assign category 1 if the passage is somewhat related")
    assert "Query: what is a shock wave" in lines and "Passage: A shock wave is a propagating disturbance." in lines
    assert "Measure how trustworthy the passage is (T)." in lines
    assert lines[-1] == ("Do not provide any code in result. Provide each score in the format of: ##final score: "
                         "score without providing any reasoning.")
    plain = UMBRELA_PROMPT.plain_text("q", "d")
    assert plain.endswith("without providing any reasoning.\n\n##final score:")
    assert UMBRELA_PROMPT.labels() == ("0", "1", "2", "3") and UMBRELA_PROMPT.scale() == (0, 3)


def test_bixse_renders_as_specified() -> None:
    messages = BIXSE_PROMPT.messages("q text", "d text")
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"] == ("Query: q text\nDocument: d text\n\n"
                                      "On a scale from 1 to 4, how well does this document answer the query?\n"
                                      "1 \u2013 Irrelevant\n2 \u2013 Topical Relevance\n3 \u2013 Partial Answer\n"
                                      "4 \u2013 Exact Answer")
    assert BIXSE_PROMPT.plain_text("q", "d").endswith("4 \u2013 Exact Answer\n\nScore:")
    assert BIXSE_PROMPT.labels() == ("1", "2", "3", "4") and BIXSE_PROMPT.top_grade() == 4


@pytest.mark.parametrize("prompt", [UMBRELA_PROMPT, BIXSE_PROMPT])
def test_chat_rendering_ends_with_the_answer_prefix(prompt, smollm2_tokenizer_dir) -> None:
    """The grade is the very next token: the rendered text stops right after the prefix."""
    from transformers import AutoTokenizer

    from bixse.judging.llm import prepare_tokenizer, render_prompt
    from bixse.judging.scoring import label_token_ids

    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(smollm2_tokenizer_dir))
    text = render_prompt(tokenizer, prompt, "what is a shock wave", "A shock wave is ...", max_grade=None,
                         max_query_tokens=64, max_document_tokens=64)
    assert text.endswith("<|im_start|>assistant\n" + prompt.answer_prefix)
    assert text.count(prompt.answer_prefix) >= 1 and "A shock wave is ..." in text
    ids = label_token_ids(tokenizer, prompt.labels())
    assert set(ids) == set(prompt.labels()), "every grade is one token after the prefix"


def test_scales_map_to_unit_interval() -> None:
    """UMBRELA: score = g / 3; BiXSE: score = (g - 1) / 3, from the expected grade."""
    certain = lambda grade, labels: {label: (0.0 if label == grade else -math.inf) for label in labels}  # noqa: E731
    for grade, expected in [("0", 0.0), ("1", 1 / 3), ("2", 2 / 3), ("3", 1.0)]:
        assert judgement_from_label_logprobs(certain(grade, UMBRELA_PROMPT.labels()), UMBRELA_PROMPT.labels()).score \
            == pytest.approx(expected)
    for grade, expected in [("1", 0.0), ("2", 1 / 3), ("3", 2 / 3), ("4", 1.0)]:
        assert judgement_from_label_logprobs(certain(grade, BIXSE_PROMPT.labels()), BIXSE_PROMPT.labels()).score \
            == pytest.approx(expected)
    # p = (0.1, 0.2, 0.3, 0.4) over 1..4: E[g] = 3.0 -> (3 - 1) / 3.
    mixed = {label: math.log(p) for label, p in zip(("1", "2", "3", "4"), (0.1, 0.2, 0.3, 0.4))}
    assert judgement_from_label_logprobs(mixed, BIXSE_PROMPT.labels()).score == pytest.approx(2 / 3)


def test_judges_take_the_prompts_scale(tmp_path) -> None:
    from bixse.judging import HTTPJudge, LLMJudge

    bixse_judge = LLMJudge(prompt=BIXSE_PROMPT)
    assert bixse_judge.max_grade == 4 and bixse_judge.labels == ("1", "2", "3", "4")
    assert LLMJudge(prompt=UMBRELA_PROMPT).labels == ("0", "1", "2", "3")
    assert LLMJudge().max_grade == 3 and LLMJudge(max_grade=5).labels[-1] == "5"
    with pytest.raises(InputError, match="names grades 1-4") as error:
        LLMJudge(prompt=BIXSE_PROMPT, max_grade=3)
    assert error.value.field == "max_grade"
    judge = HTTPJudge("m", prompt=UMBRELA_PROMPT, base_url="http://127.0.0.1:9/v1")
    _, body = judge.request_body("q", "d")
    assert body["messages"][-1] == {"role": "assistant", "content": "##final score:"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    _, plain = HTTPJudge("m", prompt=GRADE_PROMPT, base_url="http://127.0.0.1:9/v1").request_body("q", "d")
    assert plain["messages"][-1]["role"] == "user" and "continue_final_message" not in plain
    completions = HTTPJudge("m", prompt=UMBRELA_PROMPT, endpoint="completions", base_url="http://127.0.0.1:9/v1")
    assert completions.request_body("q", "d")[1]["prompt"].endswith("##final score:")


def test_template_missing_a_placeholder_names_the_field() -> None:
    with pytest.raises(InputError, match=r"\{query\}") as error:
        replace(UMBRELA_PROMPT, user=UMBRELA_PROMPT.user.replace("{query}", "the query"))
    assert error.value.field == "user"
    with pytest.raises(InputError, match=r"\{document\}") as error:
        replace(BIXSE_PROMPT, user=BIXSE_PROMPT.user.replace("{document}", "the document"))
    assert error.value.field == "user"
    with pytest.raises(InputError, match=r"unknown placeholder \{passage\}") as error:
        replace(UMBRELA_PROMPT, user=UMBRELA_PROMPT.user.replace("{document}", "{passage}"))
    assert error.value.field == "user"


def test_a_grade_scale_the_prompt_does_not_name_is_an_error(tmp_path) -> None:
    with pytest.raises(InputError, match="names grades 0-3") as error:
        UMBRELA_PROMPT.labels(4)
    assert error.value.field == "max_grade"
    with pytest.raises(InputError, match="must name its scale") as error:
        PromptTemplate("fixed", "1", "grade", "", "Grade 0-3.\nQ: {query}\nD: {document}")
    assert error.value.field == "grade_scale"
    with pytest.raises(InputError, match="3 grade descriptions for the 4 grades") as error:
        PromptTemplate("short", "1", "grade", "", "{scale}\n{query}\n{document}", grade_descriptions=("a", "b", "c"),
                       grade_scale=(0, 3))
    assert error.value.field == "grade_descriptions"
    described = PromptTemplate("described", "1", "grade", "", "{scale}\n{query}\n{document}",
                               grade_descriptions=("2 = good", "1 = some", "0 = none"))
    assert described.labels(2) == ("0", "1", "2")
    with pytest.raises(InputError, match="describes 3 grades"):
        described.labels(3)
    # A yes/no prompt names no grades and needs none.
    assert YESNO_PROMPT.labels(7) == ("yes", "no")


def test_prompt_files_declare_their_scale(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "mine", "version": "2", "mode": "grade", "system": "",
                                "user": "1-4 please. {query} / {document}", "grade_scale": [1, 4],
                                "answer_prefix": "Grade:"}))
    template = get_prompt(path)
    assert template.labels() == ("1", "2", "3", "4") and template.plain_text("q", "d").endswith("Grade:")
    path.write_text(json.dumps({"name": "mine", "version": "2", "mode": "grade", "system": "",
                                "user": "{query} / {document}", "grade_scale": "0-3"}))
    with pytest.raises(InputError, match=r"\[lowest, highest\]") as error:
        get_prompt(path)
    assert error.value.field == "grade_scale" and error.value.path == str(path)
    path.write_text(json.dumps({"name": "mine", "version": "2", "mode": "grade", "system": "", "user": "{document}"}))
    with pytest.raises(InputError, match=r"\{query\}") as error:
        get_prompt(path)
    assert error.value.field == "user" and error.value.path == str(path)
    with pytest.raises(InputError, match="unknown prompt 'umbrella'") as error:
        get_prompt("umbrella")
    assert error.value.field == "prompt"


def test_cli_prompt_names(tmp_path) -> None:
    from typer.testing import CliRunner

    from bixse.cli import app
    from bixse.mining import Candidate, write_candidates

    write_candidates(tmp_path / "c.jsonl", [Candidate("q", "d", 1, 0.0, None, "q", "d")], with_texts=True)
    base = ["judge", "-i", str(tmp_path / "c.jsonl"), "--cache", str(tmp_path / "labels.sqlite")]
    wrong_scale = CliRunner().invoke(app, [*base, "--prompt", "bixse", "--max-grade", "3"])
    assert isinstance(wrong_scale.exception, InputError) and wrong_scale.exception.field == "max_grade"
    unknown = CliRunner().invoke(app, [*base, "--prompt", "umbrella"])
    assert isinstance(unknown.exception, InputError) and unknown.exception.field == "prompt"
    assert "umbrela, bixse" in str(unknown.exception)
