"""Helpers for cross-package tests: a Maestro home with its own sources file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.settings import Settings


@pytest.fixture()
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Return a function building Settings for a temp home with the given source entries."""

    def build(sources: list[dict], **env: str) -> Settings:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        sources_file = home / "sources.yaml"
        sources_file.write_text(yaml.safe_dump({"sources": sources}))
        monkeypatch.setenv("MAESTRO_HOME", str(home))
        monkeypatch.setenv("MAESTRO_SOURCES", str(sources_file))
        monkeypatch.delenv("MAESTRO_LAKE_URI", raising=False)
        monkeypatch.delenv("MAESTRO_CATALOG_PATH", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return Settings.from_env()

    return build
