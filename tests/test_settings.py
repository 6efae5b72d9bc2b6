"""Settings in one place: index/config.py's Settings names every environment variable, the README's
configuration table lists the same ones, no other module of index/ or service/ reads the
environment, and a Settings object reads it once, when it is built."""
from __future__ import annotations

import re

from index.config import REPO_ROOT, Settings


def readme_variables() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):text.index("## Quality")]
    names = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        base = None
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if token.startswith("POLICYQA_"):
                names.add(token)
                base = re.match(r"POLICYQA_[A-Z]+", token).group(0)
            elif token.startswith("..._") and base:
                names.add(base + token[3:])  # `POLICYQA_MILVUS_URI`, `..._TOKEN`: POLICYQA_MILVUS_TOKEN
    return names


def settings_variables() -> set[str]:
    return {f"POLICYQA_{name.upper()}" for name, field in Settings.model_fields.items() if field.validation_alias is None}


def test_readme_configuration_table_matches_the_settings():
    documented, read = readme_variables(), settings_variables()
    assert documented - read == set(), "in the README but not read by index/config.py"
    assert read - documented == set(), "read by index/config.py but missing from the README's table"


def test_the_environment_is_read_in_one_module():
    readers = []
    for path in sorted((REPO_ROOT / "index").rglob("*.py")) + sorted((REPO_ROOT / "service").rglob("*.py")):
        if path == REPO_ROOT / "index" / "config.py":
            continue
        if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[", path.read_text(encoding="utf-8")):
            readers.append(str(path.relative_to(REPO_ROOT)))
    assert readers == []


def test_settings_read_the_environment_once_when_built(monkeypatch):
    monkeypatch.setenv("POLICYQA_ADMIN_TOKEN", "t0ken")
    settings = Settings()
    assert settings.admin_token == "t0ken"
    monkeypatch.delenv("POLICYQA_ADMIN_TOKEN")
    assert settings.admin_token == "t0ken"  # what the program started with
    assert Settings().admin_token == ""  # a new object (a new start) sees the change


def test_folders_follow_the_data_folder_unless_set(monkeypatch, tmp_path):
    for name in ("POLICYQA_VAR_DIR", "POLICYQA_INDEX_DIR", "POLICYQA_LIBRARY_DIR", "POLICYQA_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(var_dir=tmp_path)
    assert (settings.index_root, settings.library_dir) == (tmp_path / "index", tmp_path / "library")
    monkeypatch.setenv("POLICYQA_LIBRARY_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("POLICYQA_INDEX_CONTEXT", "0")
    settings = Settings(var_dir=tmp_path)
    assert settings.library_dir == tmp_path / "lib" and settings.index_context is False
    changed = settings.replace(userdict=False)
    assert changed.userdict is False and settings.userdict is True and changed.library_dir == settings.library_dir
