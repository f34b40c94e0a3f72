"""fetch() spools every page to one NDJSON file with its sha256; read_spool() streams it back as
bounded string batches that keep the API's text (numbers, nested values, nulls)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.http_pull import HttpPullSource, PullResult, read_spool

from .server import FakeApi

pytestmark = pytest.mark.network

Make = Callable[..., HttpPullSource]
PAGES = {"record_path": "data.items", "pagination": {"type": "page_number", "page_size": 5}}


def test_fetch_describes_the_spool_it_wrote(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source("pages", **PAGES).fetch(tmp_path / "spool")
    data = result.spool_path.read_bytes()
    assert result.spool_path.parent == tmp_path / "spool" and result.spool_path.suffix == ".ndjson"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.records == len(data.splitlines()) == 23
    assert result.columns == ("id", "name", "price", "meta", "note", "updated_at")
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == [
        result.spool_path.name,
        result.sidecar_path.name,  # its description, so a killed run's spool can be settled
    ]  # no .part
    assert PullResult.load(result.sidecar_path) == result


def test_spool_batches_are_bounded_and_every_column_is_text(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source("pages", **PAGES).fetch(tmp_path)
    batches = list(read_spool(result.spool_path, 10, columns=result.columns))
    assert [b.num_rows for b in batches] == [10, 10, 3]
    table = pa.Table.from_batches(batches)
    assert all(field.type == pa.string() for field in table.schema)
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "id": "1",
        "name": "item 1",
        "price": "1.10",  # the JSON number's text, not the float 1.1
        "meta": '{"tags":["a","b"],"rank":1}',
        "note": "note 1",
        "updated_at": "2024-03-01T01:00:00Z",
    }
    assert table.column("note")[3].as_py() is None  # JSON null stays null


def test_read_spool_finds_the_columns_itself_when_not_told(tmp_path: Path) -> None:
    spool = tmp_path / "s.ndjson"
    spool.write_text('{"a":1}\n{"b":true,"a":2.50}\n{"c":[1,{"d":null}]}\n', encoding="utf-8")
    table = pa.Table.from_batches(list(read_spool(spool, 2)))
    assert table.to_pydict() == {
        "a": ["1", "2.50", None],
        "b": [None, "true", None],
        "c": [None, None, '[1,{"d":null}]'],
    }


def test_an_empty_api_gives_an_empty_spool_and_no_batches(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.records = []
    result = make_source("pages", **PAGES).fetch(tmp_path)
    assert (result.records, result.size, result.pages) == (0, 0, 1)
    assert result.sha256 == hashlib.sha256(b"").hexdigest()
    assert list(read_spool(result.spool_path, 10)) == []


def test_csv_pages_keep_their_text_and_quoted_commas(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source("csv", format="csv", pagination={"type": "offset", "limit": 5}).fetch(
        tmp_path
    )
    table = pa.Table.from_batches(list(read_spool(result.spool_path, 100)))
    assert table.num_rows == 23
    assert table.column_names == ["id", "name", "note", "updated_at"]
    assert table.column("name")[0].as_py() == "item 1, x"
    assert table.column("note")[3].as_py() == ""  # CSV has no null: the empty text stays


def test_ndjson_pages_are_read_line_by_line(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source(
        "ndjson", format="ndjson", pagination={"type": "page_number", "page_size": 5}
    ).fetch(tmp_path)
    lines = [json.loads(x) for x in result.spool_path.read_text().splitlines()]
    assert [r["id"] for r in lines] == list(range(1, 24))


def test_fetching_the_same_data_twice_gives_the_same_sha256(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    source = make_source("pages", **PAGES)
    first, second = source.fetch(tmp_path / "a"), source.fetch(tmp_path / "b")
    assert first.spool_path != second.spool_path
    assert first.sha256 == second.sha256
