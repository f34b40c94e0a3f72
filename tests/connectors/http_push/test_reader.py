"""PushSource: discover pending batches and read them as bounded, all-string record batches."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.base import Source
from connectors.exceptions import SourceConfigError, SourceUnreadableError
from connectors.http_push import Landing, PushSource


def land(root: Path, body: bytes, content_type: str = "text/csv", *, gz: bool = False) -> str:
    landing = Landing(root)
    writer = landing.open_body(
        "orders", content_type=content_type, gzip=gz, max_bytes=1 << 26, max_decoded_bytes=1 << 26
    )
    writer.write(gzip.compress(body) if gz else body)
    writer.finish()
    return landing.commit("orders", writer, content_type=content_type, caller="p").receipt.batch_id


def read_all(source: PushSource, **kw: int) -> list[pa.RecordBatch]:
    return [b for obj in source.discover() for b in source.read(obj, **kw)]


@pytest.fixture
def source(tmp_path: Path) -> PushSource:
    return PushSource(name="partner-push", dataset="orders", landing_root=tmp_path)


def test_push_source_implements_the_source_interface(source: PushSource) -> None:
    assert isinstance(source, Source)
    assert source.kind == "http_push"
    assert source.discover() == []


def test_discover_describes_each_pending_batch(source: PushSource, tmp_path: Path) -> None:
    first = land(tmp_path, b"id\n1\n")
    second = land(tmp_path, b"id\n2\n")
    objs = source.discover()
    assert [PushSource.batch_id(o) for o in objs] == [first, second]
    receipt = json.loads((tmp_path / "orders/batches" / f"{first}.receipt.json").read_text())
    assert objs[0].uri.startswith("file://") and objs[0].uri.endswith(f"{first}.csv")
    assert (objs[0].sha256, objs[0].size) == (receipt["sha256"], receipt["bytes"])
    assert objs[0].mtime is not None and objs[0].mtime.utcoffset().total_seconds() == 0


def test_csv_columns_are_strings_holding_the_original_text(
    source: PushSource, tmp_path: Path
) -> None:
    # An unquoted empty field is null; a quoted empty field is an empty string.
    land(tmp_path, b'id,amount,note\n007,1.50,"multi\nline"\n8,,""\n')
    [batch] = read_all(source)
    assert batch.schema == pa.schema(
        [("id", pa.string()), ("amount", pa.string()), ("note", pa.string())]
    )
    assert batch.to_pylist() == [
        {"id": "007", "amount": "1.50", "note": "multi\nline"},
        {"id": "8", "amount": None, "note": ""},
    ]


def test_batches_hold_at_most_batch_rows_rows(source: PushSource, tmp_path: Path) -> None:
    land(tmp_path, b"id\n" + b"".join(f"{i}\n".encode() for i in range(1000)), gz=True)
    land(
        tmp_path,
        ("\n".join(json.dumps({"i": i}) for i in range(250))).encode(),
        "application/x-ndjson",
    )
    batches = read_all(source, batch_rows=100)
    assert max(b.num_rows for b in batches) <= 100
    assert sum(b.num_rows for b in batches) == 1250


def test_json_values_become_their_text_and_nested_values_json(
    source: PushSource, tmp_path: Path
) -> None:
    body = [
        {"a": 1, "b": 1.50, "c": "x", "d": False, "e": None, "f": {"g": [1, 2.0, "h"]}},
        {"z": "only here"},
    ]
    land(tmp_path, json.dumps(body).encode(), "application/json")
    [batch] = read_all(source)
    assert batch.schema.names == ["a", "b", "c", "d", "e", "f", "z"]
    assert batch.to_pylist() == [
        {
            "a": "1",
            "b": "1.5",
            "c": "x",
            "d": "false",
            "e": None,
            "f": '{"g":[1,2.0,"h"]}',
            "z": None,
        },
        {"a": None, "b": None, "c": None, "d": None, "e": None, "f": None, "z": "only here"},
    ]


def test_json_numbers_keep_their_literal_text(source: PushSource, tmp_path: Path) -> None:
    land(
        tmp_path, b'[{"price": 1.50, "big": 12345678901234567890, "exp": 1e3}]', "application/json"
    )
    [batch] = read_all(source)
    assert batch.to_pylist() == [{"price": "1.50", "big": "12345678901234567890", "exp": "1e3"}]


def test_large_json_array_is_split_incrementally(source: PushSource, tmp_path: Path) -> None:
    rows = [{"i": i, "s": "x" * (i % 50)} for i in range(20_000)]
    land(tmp_path, json.dumps(rows).encode(), "application/json", gz=True)
    batches = read_all(source, batch_rows=5000)
    assert [b.num_rows for b in batches] == [5000] * 4
    assert batches[-1].to_pylist()[-1] == {"i": "19999", "s": "x" * (19999 % 50)}


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        ("application/json", b'{"not": "an array"}', "not a JSON array"),
        ("application/json", b'[{"a": 1} {"b": 2}]', "expected ','"),
        ("application/json", b'[{"a": 1}', "after element 1"),
        ("application/json", b'[{"a": 1},,{"a": 2}]', "element 2 is missing"),
        ("application/json", b'[{"a": 1}, {"a": [1, 2}', "its end cannot be found"),
        ("text/csv", b"a,b\n1,2,3\n", "csv"),
    ],
)
def test_unreadable_input_raises_source_unreadable_naming_batch_and_problem(
    source: PushSource, tmp_path: Path, content_type: str, body: bytes, problem: str
) -> None:
    batch_id = land(tmp_path, body, content_type)
    [obj] = source.discover()
    with pytest.raises(SourceUnreadableError) as err:
        list(source.read(obj))
    assert batch_id in str(err.value)
    assert problem in str(err.value)


def test_file_changed_after_landing_is_unreadable(source: PushSource, tmp_path: Path) -> None:
    land(tmp_path, b"id\n1\n")
    [obj] = source.discover()
    Path(obj.uri.removeprefix("file://")).write_bytes(b"id\n2\n")
    with pytest.raises(SourceUnreadableError, match="changed since it landed"):
        list(source.read(obj))


def test_corrupt_gzip_is_unreadable(source: PushSource, tmp_path: Path) -> None:
    land(tmp_path, b"id\n1\n", gz=True)
    [obj] = source.discover()
    source.verify_sha256 = False  # bytes rotted on disk after the checksum was taken
    path = Path(obj.uri.removeprefix("file://"))
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(SourceUnreadableError, match="not readable as csv"):
        list(source.read(obj))


def test_from_dict_builds_a_source_from_a_sources_file_entry(tmp_path: Path) -> None:
    src = PushSource.from_dict(
        {"name": "partner-push", "dataset": "orders", "landing_root": "landing"},
        base_dir=tmp_path,
    )
    assert src.landing.root == tmp_path / "landing"
    assert (src.name, src.dataset, src.verify_sha256) == ("partner-push", "orders", True)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"name": "p", "dataset": "orders"}, "landing_root"),
        (
            {"name": "p", "dataset": "orders", "landing_root": "x", "verify_sha256": "yes"},
            "verify_sha256",
        ),
        ({"name": "p", "dataset": "orders", "landing_root": "x", "colour": 1}, "colour"),
    ],
)
def test_from_dict_names_the_bad_field(entry: dict, field: str) -> None:
    with pytest.raises(SourceConfigError, match=field):
        PushSource.from_dict(entry)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_rows_that_cannot_be_read_become_rows_with_a_reason_and_their_original_bytes(
    source: PushSource, tmp_path: Path, content_type: str
) -> None:
    elements = [
        '{"id": 1, "v": "ok"}',
        '{"id": 2, "deep": ' + DEEP + "}",
        "[2]",
        '{"id": 3, "v": NaN}',
        '{"id": 4, "_maestro_error": null}',
        '"text"',
        '{"id": 5, "nested": ' + "[" * 63 + "]" * 63 + "}",  # 64 levels with the row: the limit
        '{"id": 6, "v": "last"}',
    ]
    if content_type == "application/json":
        body = ("[\n" + ",\n".join(elements) + "\n]").encode()
    else:
        body = ("\n".join(elements[:3]) + '\n{"a": \n' + "\n".join(elements[3:]) + "\n").encode()
    land(tmp_path, body, content_type)
    [batch] = read_all(source)
    rows = batch.to_pylist()
    assert batch.schema.field("_maestro_raw").type == pa.large_binary()
    assert batch.schema.field("_maestro_line").type == pa.int64()
    reasons = [r["_maestro_error"] for r in rows]
    expected = [None, "json_depth", "not_an_object", "invalid_json", "reserved_column", "not_an_object",
                None, None]
    if content_type == "application/x-ndjson":
        expected.insert(3, "invalid_json")  # the truncated line '{"a": '
    assert reasons == expected
    assert rows[0]["id"] == "1" and rows[0]["_maestro_raw"] is None and rows[0]["_maestro_line"] == 2 - (
        content_type == "application/x-ndjson"
    )
    bad = [r for r in rows if r["_maestro_error"]]
    assert all(r["id"] is None for r in bad)  # nothing half-read leaks into the data columns
    deep = next(r for r in rows if r["_maestro_error"] == "json_depth")
    assert deep["_maestro_raw"] == elements[1].encode()
    assert rows[-2]["nested"] == "[" * 63 + "]" * 63
    assert rows[-1]["v"] == "last"
    lines = [r["_maestro_line"] for r in rows]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


def test_bodies_without_bad_rows_carry_no_reserved_columns(source: PushSource, tmp_path: Path) -> None:
    land(tmp_path, b'{"id": 1}\n{"id": 2}\n', "application/x-ndjson")
    [batch] = read_all(source)
    assert batch.schema.names == ["id"]


def test_a_ndjson_line_over_the_limit_is_a_row_holding_its_beginning(
    source: PushSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.http_push import formats

    monkeypatch.setattr(formats, "MAX_ELEMENT_CHARS", 1000)
    monkeypatch.setattr(formats, "RAW_PREFIX_CHARS", 100)
    long_line = '{"id": 2, "v": "' + "x" * 5000 + '"}'
    land(tmp_path, f'{{"id": 1}}\n{long_line}\n{{"id": 3}}\n'.encode(), "application/x-ndjson")
    [batch] = read_all(source)
    rows = batch.to_pylist()
    assert [r["id"] for r in rows] == ["1", None, "3"]
    assert rows[1]["_maestro_error"] == "line_too_long"
    assert rows[1]["_maestro_raw"] == long_line[:100].encode()
    assert [r["_maestro_line"] for r in rows] == [1, 2, 3]
