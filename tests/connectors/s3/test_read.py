"""fetch() + read(): objects come back as bounded record batches with the expected values."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.s3 import S3Source

pytestmark = pytest.mark.network


def rows(source: S3Source, **kw: Any) -> list[dict[str, Any]]:
    (obj,) = source.discover()
    return [row for batch in source.read(obj, **kw) for row in batch.to_pylist()]


def test_fetch_spools_the_object_and_measures_its_sha256_and_size(
    s3: Any, bucket: str, make_source: Callable[..., S3Source], tmp_path: Path
) -> None:
    body = b"id,name\n1,ada\n2,grace\n"
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=body)
    source = make_source()
    (obj,) = source.discover()

    fetched = source.fetch(obj, tmp_path / "spool")
    path, sha256, size = fetched

    assert path.read_bytes() == body and path.parent == tmp_path / "spool"
    assert (sha256, size) == (hashlib.sha256(body).hexdigest(), len(body))
    entry = fetched.manifest_object(obj)
    assert (entry.sha256, entry.size, entry.etag, entry.uri) == (sha256, size, obj.etag, obj.uri)
    assert not list(path.parent.glob("*.part"))
    batches = list(source.read_spool(obj, path, batch_rows=1))
    assert [b.num_rows for b in batches] == [1, 1]


def test_csv_columns_are_text_and_the_options_apply(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    body = "id;name;note\n007;'Zoë; the first';NULL\n8;;'x'\n".encode("latin-1")
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=body)
    source = make_source(
        csv={"delimiter": ";", "quote": "'", "null_values": ["NULL"], "encoding": "latin-1"}
    )

    # Null tokens stay their original text, named in the schema metadata for enforcement.
    assert rows(source) == [
        {"id": "007", "name": "Zoë; the first", "note": "NULL"},
        {"id": "8", "name": "", "note": "x"},
    ]
    (obj,) = source.discover()
    (batch,) = source.read(obj)
    assert json.loads(batch.schema.metadata[b"maestro.null_values"]) == ["NULL"]


def test_a_utf16_csv_is_transcoded_not_mistaken_for_binary(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body="id,name\n1,Zoë\n".encode("utf-16"))

    assert rows(make_source(csv={"encoding": "utf_16"})) == [{"id": "1", "name": "Zoë"}]


def test_a_headerless_csv_takes_the_configured_column_names(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2.50\n3,\n")
    source = make_source(csv={"header": False, "column_names": ["id", "amount"]})

    assert rows(source) == [{"id": "1", "amount": "2.50"}, {"id": "3", "amount": ""}]


def test_batches_never_exceed_batch_rows(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    body = b"id\n" + b"".join(b"%d\n" % i for i in range(1000))
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=body)
    source = make_source()
    (obj,) = source.discover()

    batches = list(source.read(obj, batch_rows=64))

    assert max(b.num_rows for b in batches) == 64
    assert sum(b.num_rows for b in batches) == 1000
    assert all(b.schema == pa.schema([("id", pa.string())]) for b in batches)


def test_ndjson_values_are_text_and_nested_values_are_json_text(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    body = (
        b'{"id": 1, "amount": 2.50, "ok": true, "tags": ["a", 1.0], "addr": {"zip": "01"}}\n'
        b"\n"
        b'{"id": 2, "amount": null, "extra": "late key"}\n'
    )
    s3.put_object(Bucket=bucket, Key="incoming/a.ndjson", Body=body)
    source = make_source()
    (obj,) = source.discover()

    batches = list(source.read(obj, batch_rows=1))

    assert [b.num_rows for b in batches] == [1, 1]
    assert batches[0].schema == batches[1].schema  # keys of every line, in first-seen order
    assert batches[0].schema.names == ["id", "amount", "ok", "tags", "addr", "extra"]
    assert {t for t in batches[0].schema.types} == {pa.string()}
    assert [r for b in batches for r in b.to_pylist()] == [
        {
            "id": "1",
            "amount": "2.50",
            "ok": "true",
            "tags": '["a",1.0]',
            "addr": '{"zip":"01"}',
            "extra": None,
        },
        {"id": "2", "amount": None, "ok": None, "tags": None, "addr": None, "extra": "late key"},
    ]


def test_parquet_keeps_native_types_and_streams_in_bounded_batches(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    table = pa.table({"id": pa.array(range(10), pa.int64()), "price": [i / 4 for i in range(10)]})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=4)
    s3.put_object(Bucket=bucket, Key="incoming/a.parquet", Body=buf.getvalue())
    source = make_source()
    (obj,) = source.discover()

    batches = list(source.read(obj, batch_rows=3))

    assert max(b.num_rows for b in batches) <= 3
    assert pa.Table.from_batches(batches).equals(table)


@pytest.mark.parametrize(
    ("key", "content_encoding"),
    [("incoming/a.csv.gz", None), ("incoming/a.csv", "gzip")],
    ids=["gz-suffix", "content-encoding"],
)
def test_gzip_objects_are_decompressed_by_suffix_or_content(
    s3: Any,
    bucket: str,
    make_source: Callable[..., S3Source],
    key: str,
    content_encoding: str | None,
) -> None:
    extra = {"ContentEncoding": content_encoding} if content_encoding else {}
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"id,name\n1,ada\n"), **extra)

    assert rows(make_source()) == [{"id": "1", "name": "ada"}]


def test_gzip_ndjson_and_gzip_parquet_are_read_too(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.jsonl.gz", Body=gzip.compress(b'{"id": 1}\n'))
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [7]}), buf)
    s3.put_object(Bucket=bucket, Key="incoming/b.parquet.gz", Body=gzip.compress(buf.getvalue()))
    source = make_source()

    values = [[r for b in source.read(o) for r in b.to_pylist()] for o in source.discover()]

    assert sorted(values, key=str) == [[{"id": "1"}], [{"id": 7}]]


def test_an_empty_object_yields_no_batches(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/empty.csv", Body=b"")

    assert rows(make_source()) == []
