"""S3 objects through moto's server: bad rows kept in place, bombs and deep JSON bounded, odd dates read."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import Manifest
from connectors.exceptions import SourceUnreadableError
from connectors.s3 import S3Source

pytestmark = pytest.mark.network


def read_all(source: S3Source) -> list[dict[str, Any]]:
    return [row for obj in source.discover() for batch in source.read(obj) for row in batch.to_pylist()]


def bad(rows: list[dict[str, Any]]) -> list[tuple[str, bytes, int | None]]:
    keys = ("_maestro_error", "_maestro_raw", "_maestro_line")
    return [tuple(r[k] for k in keys) for r in rows if r.get("_maestro_error")]  # type: ignore[misc]


def test_a_ragged_row_and_a_bad_utf8_byte_are_rows_with_reasons(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"id,name\n1,a\n2,b,x\n3,\xff\n4,d\n")

    rows = read_all(make_source())

    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert bad(rows) == [("ragged_row", b"2,b,x", 3), ("encoding", b"3,\xff", 4)]


def test_bad_ndjson_lines_are_rows_with_reasons_and_the_object_goes_on(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    body = b"\n".join([
        b'{"id": 1}',
        b'{"id": ',
        b"[1, 2]",
        b'{"id": 3, "nested": ' + deep + b"}",
        b'{"id": 4, "name": "caf\xe9"}',
        b'{"id": 5, "_maestro_error": "forged"}',
        b'{"id": 6}',
    ])
    s3.put_object(Bucket=bucket, Key="incoming/a.ndjson", Body=body)

    rows = read_all(make_source())

    assert [r["id"] for r in rows if not r["_maestro_error"]] == ["1", "6"]
    assert [(reason, line) for reason, _, line in bad(rows)] == [
        ("invalid_json", 2), ("not_an_object", 3), ("json_depth", 4), ("encoding", 5), ("reserved_column", 6)
    ]
    assert bad(rows)[2][1].endswith(b"]}")  # the original line, kept whole


def test_one_very_long_ndjson_line_is_one_row_and_memory_stays_bounded(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    wide = b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(300_000)) + b"}"  # ~4.5 MB, 300k keys
    body = b'{"id": 1}\n' + wide + b"\n" + b'{"id": 2}\n'
    s3.put_object(Bucket=bucket, Key="incoming/a.jsonl.gz", Body=gzip.compress(body))
    source = make_source(limits={"max_line_bytes": 1 << 20, "raw_excerpt_bytes": 1000})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    rows = read_all(source)

    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [r["id"] for r in rows] == ["1", None, "2"]
    assert bad(rows) == [("line_too_long", wide[:1000], 2)]
    assert grown_mb < 300  # generous: one line was 3.4 GB before the cap


def test_keys_past_the_column_cap_make_their_lines_rows_with_a_reason(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    body = b'{"id": 1, "a": 2}\n{"id": 2, "b": 3, "c": 4}\n{"id": 3, "b": 5}\n'
    s3.put_object(Bucket=bucket, Key="incoming/a.ndjson", Body=body)

    rows = read_all(make_source(limits={"max_columns": 3}))

    reasons = [(r["id"], r["_maestro_error"]) for r in rows]
    assert reasons == [("1", None), ("2", "too_many_columns"), ("3", None)]
    assert rows[1]["_maestro_raw"] == b'{"id": 2, "b": 3, "c": 4}'


def test_a_gzip_bomb_object_is_unreadable_naming_the_object_and_the_cap(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    member = gzip.compress(b"1,a\n" * (1 << 18), 9)
    s3.put_object(Bucket=bucket, Key="incoming/bomb.csv.gz", Body=gzip.compress(b"id,name\n") + member * 200)

    with pytest.raises(SourceUnreadableError) as info:
        read_all(make_source(limits={"ratio_grace_bytes": 8 << 20}))

    assert f"s3://{bucket}/incoming/bomb.csv.gz" in str(info.value)
    assert "limits.max_expansion_ratio" in str(info.value)


def test_a_parquet_gz_bomb_stops_at_the_cap_and_leaves_no_temp_file(
    s3: Any, bucket: str, make_source: Callable[..., S3Source], tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/b.parquet.gz", Body=gzip.compress(bytes(64 << 20), 9))
    source = make_source(limits={"max_decoded_bytes": 16 << 20})
    (obj,) = source.discover()
    fetched = source.fetch(obj, tmp_path)

    with pytest.raises(SourceUnreadableError) as info:
        list(source.read_spool(obj, fetched.path))

    assert "limits.max_decoded_bytes" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == [fetched.path.name]


def test_parquet_dates_outside_years_1_to_9999_are_read_not_crashed_on(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    days = [-800_000, -719_162, 0, 2_932_896, 3_000_000]  # year -221, year 1, 1970, 9999-12-31, 10183
    table = pa.table({
        "id": [1, 2, 3, 4, 5],
        "day": pa.array(days, pa.date32()),
        "at": pa.array([d * 86_400_000_000 for d in days], pa.timestamp("us", tz="UTC")),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=bucket, Key="incoming/dates.parquet", Body=buf.getvalue())
    source = make_source()

    (batch,) = [b for o in source.discover() for b in source.read(o)]

    assert batch.column("day").cast(pa.int32()).to_pylist() == days
    assert batch.column("at").cast(pa.int64()).to_pylist()[2] == 0
    assert batch.column("day").slice(2, 1).to_pylist() == [dt.date(1970, 1, 1)]


def test_the_same_data_plain_and_gzipped_has_one_content_id(
    s3: Any, bucket: str, make_source: Callable[..., S3Source], tmp_path: Path
) -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(1000))
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=data)
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=gzip.compress(data))
    source = make_source()

    entries = [source.fetch(o, tmp_path / o.uri[-6:]).manifest_object(o) for o in source.discover()]

    assert len({e.sha256 for e in entries}) == 2  # the stored bytes differ
    assert len({Manifest("s3_test", "s3", "orders", (e,)).content_id for e in entries}) == 1
