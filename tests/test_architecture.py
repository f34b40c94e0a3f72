"""Dependencies run one way: library packages never import dagster; lake imports none of the others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ["connectors", "contracts", "lake", "pipeline", "policies", "provenance", "config", "metrics",
             "quality", "sandbox", "faults"]
PROJECT = set(LIBRARIES) | {"orchestration"}


def _imports(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(REPO))] = names
    return out


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_packages_never_import_dagster(package: str) -> None:
    offenders = {f: n for f, n in _imports(package).items() if {"dagster", "dagster_dbt"} & n}
    assert not offenders, f"dagster imported outside orchestration/: {sorted(offenders)}"


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_packages_never_import_orchestration(package: str) -> None:
    offenders = [f for f, n in _imports(package).items() if "orchestration" in n]
    assert not offenders


def test_lake_imports_none_of_the_other_packages() -> None:
    others = PROJECT - {"lake", "faults"}  # faults/ is a standard-library-only leaf
    offenders = {f: sorted(n & others) for f, n in _imports("lake").items() if n & others}
    assert not offenders


def test_fault_points_import_only_the_standard_library() -> None:
    imported = set().union(*_imports("faults").values())
    assert not imported & PROJECT, "faults/ is a leaf every package may import"
    assert imported <= {"__future__", "json", "os", "signal", "threading", "time"}
