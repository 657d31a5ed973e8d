"""Judge model fingerprints: a model inside an installed wheel is known by its RECORD hashes,
so the same files installed elsewhere keep their labels; any other folder by path, size, mtime."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

from bixse.judging.identity import installed_file_hashes, model_fingerprint

FILES = {"config.json": b'{"hidden_size": 32}', "model.safetensors": b"\x00weights\x01"}


def _record_hash(content: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


def fake_install(site: Path, files: dict[str, bytes] = FILES, record_override: dict[str, str] | None = None) -> Path:
    """A wheel-installed package ``fakemodel`` with a model folder, as pip leaves it."""
    model = site / "fakemodel" / "model"
    model.mkdir(parents=True)
    lines = []
    for name, content in files.items():
        (model / name).write_bytes(content)
        digest = (record_override or {}).get(name, _record_hash(content))
        lines.append(f"fakemodel/model/{name},{digest},{len(content)}")
    info = site / "fakemodel-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakemodel\nVersion: 1.0\n")
    (info / "RECORD").write_text("\n".join(lines + ["fakemodel-1.0.dist-info/RECORD,,"]) + "\n")
    return model


def test_same_wheel_files_in_two_environments_have_one_fingerprint(tmp_path):
    first = fake_install(tmp_path / "venv-a" / "site-packages")
    second = fake_install(tmp_path / "venv-b" / "site-packages")
    os.utime(second / "config.json", (1_000_000, 1_000_000))  # pip's extraction times differ too
    assert set(installed_file_hashes(first)) == {(first / name).resolve() for name in FILES}
    assert model_fingerprint(first, label="m") == model_fingerprint(second, label="m")


def test_other_recorded_content_is_another_model(tmp_path):
    first = fake_install(tmp_path / "venv-a" / "site-packages")
    other = fake_install(tmp_path / "venv-b" / "site-packages",
                         record_override={"model.safetensors": _record_hash(b"other weights")})
    assert model_fingerprint(first, label="m") != model_fingerprint(other, label="m")


def test_a_folder_outside_site_packages_is_known_by_path_size_and_mtime(tmp_path):
    installed = fake_install(tmp_path / "venv" / "site-packages")
    copy = shutil.copytree(installed, tmp_path / "models" / "m")
    assert installed_file_hashes(copy) == {}
    assert model_fingerprint(copy, label="m") != model_fingerprint(installed, label="m")
    before = model_fingerprint(copy, label="m")
    os.utime(copy / "config.json", (1_000_000, 1_000_000))
    assert model_fingerprint(copy, label="m") != before  # touched or re-saved: a cache miss, never a stale label


def test_an_edited_chat_template_is_another_judge(tmp_path):
    """transformers keeps the chat template in chat_template.jinja: a new template is a new prompt."""
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    template = model / "chat_template.jinja"
    template.write_text("{{ messages[0]['content'] }}")
    before = model_fingerprint(model, label="m")
    template.write_text("System: grade it.\n{{ messages[0]['content'] }}")
    os.utime(template, (2_000_000, 2_000_000))
    assert model_fingerprint(model, label="m") != before
