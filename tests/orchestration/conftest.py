"""A Maestro home in a temporary folder, with the sample sources pointed into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "maestro"
    monkeypatch.setenv("MAESTRO_HOME", str(home))
    for var in ("MAESTRO_LAKE_URI", "MAESTRO_CATALOG_PATH", "MAESTRO_SOURCES"):
        monkeypatch.delenv(var, raising=False)
    return Settings.from_env()
