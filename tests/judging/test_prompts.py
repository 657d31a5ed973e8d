"""Prompt templates: versioned keys, the grade scale text, validation of template files."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bixse.errors import InputError
from bixse.judging.prompts import GRADE_PROMPT, YESNO_PROMPT, PromptTemplate, grade_labels


def test_key_changes_with_version_and_with_silent_text_edits() -> None:
    assert GRADE_PROMPT.key.startswith("umbrela-grade/1#")
    assert replace(GRADE_PROMPT, version="2").key != GRADE_PROMPT.key
    # Edited wording without a version bump must not reuse old labels either.
    edited = replace(GRADE_PROMPT, user=GRADE_PROMPT.user + " ")
    assert edited.key != GRADE_PROMPT.key
    assert edited.key.split("#")[0] == GRADE_PROMPT.key.split("#")[0]


def test_grade_scale_rendering() -> None:
    messages = GRADE_PROMPT.messages("shock waves", "A shock wave is ...", max_grade=3)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "3 = perfectly relevant" in user and "0 = irrelevant" in user
    assert "Query: shock waves" in user and "Passage: A shock wave is ..." in user
    five_point = GRADE_PROMPT.messages("q", "d", max_grade=4)[1]["content"]
    assert "4 = perfectly relevant" in five_point and "from 0 to 4" in five_point
    assert GRADE_PROMPT.labels(4) == ("0", "1", "2", "3", "4")
    assert YESNO_PROMPT.labels(3) == ("yes", "no")
    assert GRADE_PROMPT.plain_text("q", "d", 3).endswith("Answer:")


def test_grade_scale_bounds() -> None:
    with pytest.raises(InputError, match="between 1 and 9"):
        grade_labels(10)
    with pytest.raises(InputError):
        grade_labels(0)


def test_template_from_file(tmp_path) -> None:
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps({"name": "mine", "version": "7", "mode": "yesno", "system": "",
                                "user": "Q: {query}\nD: {document}\nRelevant?", "answer_prefix": " "}))
    template = PromptTemplate.from_file(path)
    assert template.key.startswith("mine/7#") and template.mode == "yesno"
    assert template.messages("a", "b", 3) == [{"role": "user", "content": "Q: a\nD: b\nRelevant?"}]

    path.write_text(json.dumps({"name": "x", "version": "1", "mode": "grade", "system": "", "user": "no slots"}))
    with pytest.raises(InputError, match=r"\{query\}") as error:
        PromptTemplate.from_file(path)
    assert error.value.path == str(path) and error.value.field == "user"
    path.write_text(json.dumps({"name": "x", "version": 1, "mode": "grade", "system": "", "user": "{query}{document}"}))
    with pytest.raises(InputError) as error:
        PromptTemplate.from_file(path)
    assert error.value.field == "version"
    path.write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON"):
        PromptTemplate.from_file(path)
