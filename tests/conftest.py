"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only `shared/` folder that sits beside the repository (OpenLineage spec, vectors)."""
    path = (REPO_ROOT / ".." / "shared").resolve()
    if not path.is_dir():
        pytest.fail(f"expected the shared folder beside the repository at {path}")
    return path
