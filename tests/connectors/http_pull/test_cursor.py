"""The cursor: saved atomically per source, compared correctly, and advanced only when the caller
saves it after a successful commit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.http_pull import (
    CursorMax,
    CursorStateError,
    CursorStore,
    HttpPullSource,
    HttpPullUnavailableError,
    HttpPullUnreadableError,
)

from .server import FakeApi

Make = Callable[..., HttpPullSource]
INCREMENTAL = {
    "record_path": "data.items",
    "pagination": {"type": "page_number", "page_size": 5},
    "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
}


def _ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_a_store_returns_none_until_a_cursor_is_set(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "state")
    assert store.get("products_api") is None
    store.set("products_api", "2024-01-01T00:00:00Z")
    store.set("products_api", "2024-01-02T00:00:00Z")
    assert store.get("products_api") == "2024-01-02T00:00:00Z"
    assert CursorStore(tmp_path / "state").get("products_api") == "2024-01-02T00:00:00Z"
    assert [p.name for p in (tmp_path / "state").iterdir()] == [
        "products_api.cursor.json"
    ]  # no temp files
    store.delete("products_api")
    assert store.get("products_api") is None


def test_sources_have_separate_cursors(tmp_path: Path) -> None:
    store = CursorStore(tmp_path)
    store.set("a", "1")
    store.set("b", "2")
    assert (store.get("a"), store.get("b")) == ("1", "2")


def test_a_corrupt_cursor_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "products_api.cursor.json").write_text("{not json")
    with pytest.raises(
        CursorStateError, match="products_api.cursor.json for source 'products_api' is unreadable"
    ):
        CursorStore(tmp_path).get("products_api")


def test_a_source_name_cannot_escape_the_state_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot name a cursor file"):
        CursorStore(tmp_path).set("../evil", "1")


def test_timestamps_compare_as_instants_and_numbers_as_numbers() -> None:
    m = CursorMax(None)
    for value in [
        "2024-01-01T10:00:00Z",
        "2024-01-01T11:30:00+02:00",
        "2024-01-01T09:59:59.999+00:00",
    ]:
        m.update(value)
    assert m.value == "2024-01-01T10:00:00Z"  # 11:30+02:00 is 09:30Z
    n = CursorMax("9")
    for value in [10, "8", 100, None]:
        n.update(value)
    assert n.value == "100"  # not "9", which sorts last as text


def test_a_cursor_never_moves_backwards_from_where_it_started() -> None:
    m = CursorMax("2024-06-01T00:00:00Z")
    m.update("2024-01-01T00:00:00Z")
    assert m.value == "2024-06-01T00:00:00Z"


def test_mixed_cursor_kinds_are_refused() -> None:
    m = CursorMax("2024-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="cursor values mix kinds"):
        m.update(42)


@pytest.mark.network
def test_the_cursor_advances_only_after_the_caller_saves_it(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path / "state")
    source = make_source("pages", cursor_store=store, **INCREMENTAL)

    first = source.fetch(tmp_path / "spool")
    assert _ids(first.spool_path) == list(range(1, 24))
    assert (first.since, first.new_cursor) == (None, "2024-03-01T23:00:00Z")
    assert store.get(source.name) is None  # fetch never saves

    # the commit "failed": no set -> the next run re-reads the same records, same manifest id
    again = source.fetch(tmp_path / "spool")
    assert _ids(again.spool_path) == list(range(1, 24))
    assert source.manifest(again).id == source.manifest(first).id

    store.set(source.name, again.new_cursor)  # the commit succeeded
    nothing_new = source.fetch(tmp_path / "spool")
    assert (nothing_new.records, nothing_new.new_cursor) == (0, "2024-03-01T23:00:00Z")

    fake_api.records.append({**fake_api.records[0], "id": 24, "updated_at": "2024-03-02T08:00:00Z"})
    newer = source.fetch(tmp_path / "spool")
    assert _ids(newer.spool_path) == [24]
    assert newer.since == "2024-03-01T23:00:00Z" and newer.new_cursor == "2024-03-02T08:00:00Z"
    assert "updated_since=2024-03-01T23%3A00%3A00Z" in fake_api.requests_to("pages")[-1]


@pytest.mark.network
def test_the_configured_initial_cursor_is_used_until_one_is_saved(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    incremental = {**INCREMENTAL["incremental"], "initial": "2024-03-01T20:00:00Z"}
    source = make_source(
        "pages", cursor_store=CursorStore(tmp_path), **{**INCREMENTAL, "incremental": incremental}
    )
    assert _ids(source.fetch(tmp_path).spool_path) == [21, 22, 23]
    assert _ids(source.fetch(tmp_path, full_refresh=True).spool_path) == list(range(1, 24))


@pytest.mark.network
def test_a_failed_pull_leaves_the_saved_cursor_alone(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path / "state")
    store.set("fake_pages", "2024-03-01T05:00:00Z")
    fake_api.faults[("pages", 1)] = ["500"] * 10
    source = make_source("pages", cursor_store=store, **INCREMENTAL)
    with pytest.raises(HttpPullUnavailableError):
        source.fetch(tmp_path / "spool")
    assert store.get("fake_pages") == "2024-03-01T05:00:00Z"
    assert list((tmp_path / "spool").iterdir()) == []


@pytest.mark.network
def test_a_cursor_field_of_mixed_kinds_is_terminal(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.records[3]["updated_at"] = "yesterday"
    with pytest.raises(HttpPullUnreadableError, match="cursor values mix kinds"):
        make_source("pages", **INCREMENTAL).fetch(tmp_path)
