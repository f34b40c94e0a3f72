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


def test_importing_quality_freezes_what_great_expectations_left_for_the_garbage_collector() -> None:
    import gc

    # Full collections then skip GX's ~280k import-time objects (quality/__init__.py).
    assert gc.get_freeze_count() > 100_000
