"""The Data Docs site: GX's pages, with compiled templates, static assets and outcomes kept between runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import great_expectations
import pytest
from great_expectations.data_context.store.html_site_store import HtmlSiteStore
from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

from contracts.model import Contract
from quality import validate_table
from quality.site import SUMMARIES_FILE

from .test_validate_table import _commit, _order, _paths, orders  # noqa: F401  (fixture)


def _count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[Any]:
    calls: list[Any] = []
    real = getattr(cls, name)

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def _gx_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake" / "_quality" / "gx"


def test_the_index_lists_every_validation_with_its_outcome_reading_only_the_new_result(
    tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    uri, results = _paths(tmp_path, "orders")
    _commit(uri, orders, [_order(1), _order(2)], manifest="m1")
    first = validate_table(orders, uri, results_dir=results)
    _commit(uri, orders, [_order(3, amount=-1.0)], manifest="m2")
    second = validate_table(orders, uri, results_dir=results)
    assert first.success and not second.success
    loads = _count_calls(monkeypatch, ValidationResultsStore, "get")

    _commit(uri, orders, [_order(4)], manifest="m3")
    third = validate_table(orders, uri, results_dir=results)

    assert len(loads) <= 1  # the new page's own result at most; the index reads the summaries
    index = Path(third.docs_path).read_text()
    assert index.count("fa-check-circle") == 2 and index.count("fa-times") >= 1  # pass, fail, pass
    summaries = json.loads(_gx_dir(tmp_path).joinpath(*SUMMARIES_FILE).read_text())
    assert sorted(s["success"] for s in summaries.values()) == [False, True, True]


def test_results_stored_before_the_summaries_file_are_summarised_once(
    tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    uri, results = _paths(tmp_path, "orders")
    _commit(uri, orders, [_order(1, amount=-1.0)], manifest="m1")
    validate_table(orders, uri, results_dir=results)
    summaries = _gx_dir(tmp_path).joinpath(*SUMMARIES_FILE)
    summaries.unlink()  # as left by a version that did not write it

    _commit(uri, orders, [_order(2)], manifest="m2")
    validate_table(orders, uri, results_dir=results)
    loads = _count_calls(monkeypatch, ValidationResultsStore, "get")
    _commit(uri, orders, [_order(3)], manifest="m3")
    last = validate_table(orders, uri, results_dir=results)

    assert sorted(s["success"] for s in json.loads(summaries.read_text()).values()) == [False, True, True]
    assert len(loads) <= 1
    assert Path(last.docs_path).read_text().count("fa-check-circle") == 2


def test_static_assets_are_copied_once_and_compiled_templates_kept_in_the_context_folder(
    tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    uri, results = _paths(tmp_path, "orders")
    copies = _count_calls(monkeypatch, HtmlSiteStore, "copy_static_assets")
    _commit(uri, orders, [_order(1)], manifest="m1")

    first = validate_table(orders, uri, results_dir=results)
    second = validate_table(orders, uri, results_dir=results, now=None)

    assert [c for c in copies if not c] == [()]  # one copy (GX recurses into sub-folders)
    static = Path(first.docs_path).parent / "static"
    gx_static = Path(great_expectations.__file__).parent / "render" / "view" / "static"
    assert {p.relative_to(gx_static) for p in gx_static.rglob("*.*")} <= {
        p.relative_to(static) for p in static.rglob("*.*")}
    assert list(static.glob(".maestro-assets-gx-*"))
    assert list((_gx_dir(tmp_path) / "uncommitted" / "jinja_bytecode").glob("*.cache"))
    assert Path(second.docs_page_path).is_file() and second.docs_page_path != first.docs_page_path


def test_build_docs_false_writes_the_json_result_and_no_site(
    tmp_path: Path, orders: Contract  # noqa: F811
) -> None:
    uri, results = _paths(tmp_path, "orders")
    _commit(uri, orders, [_order(1)], manifest="m1")

    result = validate_table(orders, uri, results_dir=results, build_docs=False)

    assert result.docs_path is None and result.docs_page_path is None
    assert Path(result.results_json_path).is_file()
    assert not (tmp_path / "lake" / "_quality" / "docs").exists()
