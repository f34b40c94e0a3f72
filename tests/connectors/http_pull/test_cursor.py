"""Cursors: positions compare correctly, fetch never saves one, and the local store is an atomic
cache of the committed cursor (the lake holds the real one: tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.http_pull import (
    Cursor,
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
    "record_path": "items",
    "pagination": {"type": "keyset", "page_size": 5},
    "incremental": {
        "cursor_field": "updated_at",
        "param": "updated_since",
        "id_field": "id",
        "id_param": "after_id",
    },
}


def _ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_a_store_returns_none_until_a_cursor_is_set(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "state")
    assert store.get("products_api") is None
    store.set("products_api", "2024-01-01T00:00:00Z")
    store.set("products_api", Cursor("2024-01-02T00:00:00Z", "7"), app_id="maestro-ingest:p:1")
    assert store.get("products_api") == Cursor("2024-01-02T00:00:00Z", "7")
    assert CursorStore(tmp_path / "state").load("products_api").app_id == "maestro-ingest:p:1"
    assert [p.name for p in (tmp_path / "state").iterdir()] == [
        "products_api.cursor.json"
    ]  # no temp files
    store.delete("products_api")
    assert store.get("products_api") is None


def test_a_pending_cursor_is_kept_beside_the_committed_one_until_the_next_set(tmp_path: Path) -> None:
    store = CursorStore(tmp_path)
    store.set("a", Cursor("5", "1"), app_id="app-5")
    store.set_pending("a", Cursor("9", "3"), app_id="app-9")
    cached = store.load("a")
    assert cached is not None and (cached.cursor, cached.app_id) == (Cursor("5", "1"), "app-5")
    assert (cached.pending, cached.pending_app_id) == (Cursor("9", "3"), "app-9")
    store.set("a", Cursor("9", "3"), app_id="app-9")
    assert store.load("a").pending is None


def test_sources_have_separate_cursors(tmp_path: Path) -> None:
    store = CursorStore(tmp_path)
    store.set("a", "1")
    store.set("b", "2")
    assert (store.get("a"), store.get("b")) == (Cursor("1"), Cursor("2"))


def test_a_corrupt_cursor_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "products_api.cursor.json").write_text("{not json")
    with pytest.raises(
        CursorStateError, match="products_api.cursor.json for source 'products_api' is unreadable"
    ):
        CursorStore(tmp_path).get("products_api")


def test_a_source_name_cannot_escape_the_state_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot name a cursor file"):
        CursorStore(tmp_path).set("../evil", "1")


def test_a_cursor_text_round_trips_with_and_without_an_id() -> None:
    for cursor in (Cursor("2024-01-01T00:00:00Z"), Cursor("2024-01-01T00:00:00Z", "42"), Cursor("17")):
        assert Cursor.parse(cursor.text()) == cursor
        assert Cursor.from_dict(cursor.to_dict()) == cursor
    assert Cursor.parse("{not json") == Cursor("{not json")


def test_positions_compare_by_value_then_id_and_a_bare_value_comes_after_its_ids() -> None:
    m = CursorMax(Cursor("2024-01-01T00:00:00Z", "9"))
    m.update("2024-01-01T00:00:00Z", 10)
    assert m.cursor == Cursor("2024-01-01T00:00:00Z", "10")  # 10 > 9 as numbers, not as text
    m.update("2024-01-01T00:00:00Z", 2)
    assert m.cursor == Cursor("2024-01-01T00:00:00Z", "10")
    bare = CursorMax("2024-01-01T00:00:00Z")  # an API filtering > value has sent every id at it
    bare.update("2024-01-01T00:00:00Z", 99)
    assert bare.cursor == Cursor("2024-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="id values mix kinds"):
        m.update("2024-01-02T00:00:00Z", "abc")


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
def test_fetch_starts_where_it_is_told_and_never_saves_a_cursor(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path / "state")
    source = make_source("keyset", cursor_store=store, **INCREMENTAL)

    first = source.fetch(tmp_path / "spool", since=None)
    assert _ids(first.spool_path) == list(range(1, 24))
    assert (first.since, first.new_cursor) == (None, Cursor("2024-03-01T23:00:00Z", "23"))
    assert store.get(source.name) is None  # fetch never saves

    # the commit "failed": the next run starts from the same place and reads the same bytes
    again = source.fetch(tmp_path / "spool", since=None)
    assert source.manifest(again).id == source.manifest(first).id

    nothing_new = source.fetch(tmp_path / "spool", since=again.new_cursor)
    assert (nothing_new.records, nothing_new.new_cursor) == (0, again.new_cursor)

    fake_api.records.append({**fake_api.records[0], "id": 24, "updated_at": "2024-03-02T08:00:00Z"})
    newer = source.fetch(tmp_path / "spool", since=again.new_cursor)
    assert _ids(newer.spool_path) == [24]
    assert newer.new_cursor == Cursor("2024-03-02T08:00:00Z", "24")
    last = fake_api.requests_to("keyset")[-1]
    assert "updated_since=2024-03-02T08%3A00%3A00Z" in last and "after_id=24" in last


@pytest.mark.network
def test_the_configured_initial_cursor_is_used_until_one_is_committed(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    incremental = {**INCREMENTAL["incremental"], "initial": "2024-03-01T20:00:00Z"}
    source = make_source(
        "keyset", cursor_store=CursorStore(tmp_path), **{**INCREMENTAL, "incremental": incremental}
    )
    assert _ids(source.fetch(tmp_path, since=None).spool_path) == [21, 22, 23]
    assert _ids(source.fetch(tmp_path).spool_path) == [21, 22, 23]  # no cache yet: initial
    assert _ids(source.fetch(tmp_path, full_refresh=True).spool_path) == list(range(1, 24))


@pytest.mark.network
def test_a_failed_pull_leaves_no_spool_and_the_cache_alone(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path / "state")
    store.set("fake_keyset", Cursor("2024-03-01T05:00:00Z", "5"))
    fake_api.always["keyset"] = "500"
    source = make_source("keyset", cursor_store=store, **INCREMENTAL)
    with pytest.raises(HttpPullUnavailableError):
        source.fetch(tmp_path / "spool")
    assert store.get("fake_keyset") == Cursor("2024-03-01T05:00:00Z", "5")
    assert list((tmp_path / "spool").iterdir()) == []


@pytest.mark.network
def test_a_cursor_field_of_mixed_kinds_is_terminal(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.records[3]["updated_at"] = "yesterday"
    with pytest.raises(HttpPullUnreadableError, match="cursor values mix kinds"):
        make_source("pages", **{**INCREMENTAL, "record_path": "data.items",
                                "pagination": {"type": "page_number", "page_size": 5,
                                               "reread_until_stable": True}}).fetch(tmp_path)
