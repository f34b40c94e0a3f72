"""quality is library code: it never imports dagster or orchestration, and exports what it documents."""

from __future__ import annotations

import ast
from pathlib import Path

import quality

PACKAGE = Path(__file__).resolve().parents[2] / "quality"


def test_quality_never_imports_dagster_or_orchestration() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        if names & {"dagster", "dagster_dbt", "orchestration"}:
            offenders[path.name] = sorted(names & {"dagster", "dagster_dbt", "orchestration"})
    assert not offenders


def test_every_name_in_all_is_importable_from_the_package() -> None:
    assert all(hasattr(quality, name) for name in quality.__all__)
    assert {"compile_suite", "validate_table", "QualityResult"} <= set(quality.__all__)
