"""Package boundaries: the ledger is pure library code and documents its no-PII contract."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import provenance.ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "provenance.ledger",
    "provenance.ledger.hasher",
    "provenance.ledger.tree",
    "provenance.ledger.note",
    "provenance.ledger.checkpoint",
    "provenance.ledger.ledger",
]


def test_the_ledger_and_its_cli_never_import_dagster() -> None:
    code = "import sys, provenance.ledger, provenance.cli; print('dagster' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_package_docstring_states_the_no_pii_rule() -> None:
    doc = provenance.ledger.__doc__ or ""
    assert "No PII" in doc and "never row values" in doc


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
