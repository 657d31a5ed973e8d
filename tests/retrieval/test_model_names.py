"""Model names that cannot be loaded fail in one line before any work: a folder that is not there,
a bare name that is not in the offline hub cache (with a suggestion), a loader that fails."""

from __future__ import annotations

import pytest

from bixse.errors import InputError
from bixse.models import check_model_name, load_sentence_transformer, packaged_minilm_path


@pytest.mark.parametrize(("name", "suggestion"), [("bm26", "'bm25'"), ("all-MiniLM-L6-v3", "'all-MiniLM-L6-v2'"),
                                                  ("sentence-transformers/no-such-model", None)])
def test_a_bare_name_missing_from_the_offline_cache_is_an_error(monkeypatch, tmp_path, name, suggestion) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(InputError, match="not in the Hugging Face cache") as error:
        check_model_name(name)
    assert error.value.field == "model" and repr(name) in str(error.value)
    assert (f"did you mean {suggestion}" in str(error.value)) if suggestion else "did you mean" not in str(error.value)


def test_cached_and_packaged_names_pass(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = tmp_path / "hub"
    snapshot = hub / "models--org--cached" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (hub / "models--org--cached" / "refs").mkdir()
    (hub / "models--org--cached" / "refs" / "main").write_text("abc")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    assert check_model_name("org/cached") == "org/cached"
    assert check_model_name("all-MiniLM-L6-v2") == str(packaged_minilm_path())


def test_a_loader_failure_online_is_one_line(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your connection.")

    monkeypatch.setattr("sentence_transformers.SentenceTransformer", unreachable)
    with pytest.raises(InputError) as error:
        load_sentence_transformer("bm26")
    message = str(error.value)
    assert "could not load model 'bm26': We couldn't connect" in message and "\n" not in message
    assert "did you mean 'bm25'" in message and error.value.field == "model"
