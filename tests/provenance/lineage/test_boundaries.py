"""Lineage is library code: no dagster, no dbt; documented modules; runnable examples."""

from __future__ import annotations

import ast
import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
LIBRARY = REPO_ROOT / "provenance" / "lineage"
MODULES = sorted(
    "provenance.lineage" + ("" if p.stem == "__init__" else f".{p.stem}")
    for p in LIBRARY.glob("*.py")
)


def test_the_lineage_package_imports_neither_dagster_nor_dbt() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dagster_dbt', 'dbt'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.py")), ids=lambda p: p.name)
def test_every_module_states_its_contract_in_a_docstring(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and len(doc) > 80, f"{path.name} needs a module docstring stating its contract"


@pytest.mark.parametrize("name", ["provenance.lineage.naming", "provenance.facets"])
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


def test_the_package_example_runs() -> None:
    import provenance.lineage as lineage

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(lineage.__doc__ or "", "provenance.lineage", globs=dict(vars(lineage))):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_the_ledger_entry_module_documents_the_no_pii_rule() -> None:
    from provenance.lineage import entry, transport

    assert "allow-list" in (entry.__doc__ or "") and "PII" in (transport.__doc__ or "")
