"""HttpPullSource through the generic Source interface: discover() names the pull a run would do,
read() streams it and leaves the manifest's sha256 on last_result."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.base import Source, sha256_file
from connectors.http_pull import Cursor, CursorStore, HttpPullSource, HttpPullUnavailableError

from .server import FakeApi

Make = Callable[..., HttpPullSource]
PACKAGE = Path(__file__).resolve().parents[3] / "connectors" / "http_pull"
CONFIG = {
    "record_path": "items",
    "pagination": {"type": "keyset", "page_size": 5},
    "incremental": {
        "cursor_field": "updated_at",
        "param": "updated_since",
        "id_field": "id",
        "id_param": "after_id",
    },
    "params": {"include": "all"},
}


@pytest.mark.network
def test_discover_describes_one_pull_from_the_saved_cursor(
    make_source: Make, base_url: str, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path)
    source = make_source("keyset", cursor_store=store, **CONFIG)
    assert isinstance(source, Source) and source.kind == "http_pull"
    [first] = source.discover()
    assert (first.uri, first.cursor, first.sha256) == (f"{base_url}/keyset?include=all", None, "")
    store.set(source.name, Cursor("2024-03-01T20:00:00Z", "20"))
    [later] = source.discover()
    assert later.uri == (
        f"{base_url}/keyset?include=all&updated_since=2024-03-01T20%3A00%3A00Z&after_id=20"
    )
    assert later.cursor == '{"value":"2024-03-01T20:00:00Z","id":"20"}'
    assert Cursor.parse(later.cursor) == Cursor("2024-03-01T20:00:00Z", "20")


@pytest.mark.network
def test_read_streams_bounded_batches_and_the_manifest_is_known_after(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    store = CursorStore(tmp_path / "state")
    store.set("fake_keyset", Cursor("2024-03-01T03:00:00Z", "3"))
    source = make_source("keyset", cursor_store=store, **CONFIG)
    [obj] = source.discover()
    batches = list(source.read(obj, batch_rows=8))
    assert [b.num_rows for b in batches] == [8, 8, 4]
    assert pa.Table.from_batches(batches).column("id").to_pylist()[:2] == ["4", "5"]

    result = source.last_result
    assert result is not None and result.new_cursor == Cursor("2024-03-01T23:00:00Z", "23")
    manifest = source.manifest(result)
    [entry] = manifest.objects
    assert entry.uri == obj.uri and entry.cursor == obj.cursor
    assert (entry.sha256, entry.size) == sha256_file(str(result.spool_path))
    assert manifest.to_dict()["kind"] == "http_pull" and manifest.dataset == "items"
    assert store.get("fake_keyset") == Cursor("2024-03-01T03:00:00Z", "3")  # reading moves nothing


@pytest.mark.network
def test_read_raises_before_any_batch_when_the_api_is_down(
    make_source: Make, fake_api: FakeApi
) -> None:
    fake_api.always["keyset"] = "503"
    source = make_source("keyset", **CONFIG)
    [obj] = source.discover()
    with pytest.raises(HttpPullUnavailableError, match="HTTP 503"):
        next(source.read(obj))
    assert source.last_result is None


def test_the_package_never_imports_dagster() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "dagster" for n in names), (
                f"{path.name} imports dagster"
            )
