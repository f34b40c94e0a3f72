"""metrics is library code: it never imports dagster or the orchestration."""

from __future__ import annotations

import ast
from pathlib import Path

import metrics

PACKAGE = Path(metrics.__file__).resolve().parent


def test_metrics_never_imports_dagster_or_orchestration() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        bad = names & {"dagster", "dagster_dbt", "orchestration"}
        if bad:
            offenders[path.name] = sorted(bad)
    assert not offenders


def test_the_public_api_is_exported() -> None:
    for name in metrics.__all__:
        assert getattr(metrics, name) is not None
    assert Path(__file__).resolve().parents[2] / "metrics" == PACKAGE


def test_the_module_examples_run() -> None:
    import doctest

    import metrics.budgets
    import metrics.prices

    for module in (metrics.budgets, metrics.prices):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed, module.__name__
