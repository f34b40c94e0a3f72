"""discover() against a real S3 endpoint on loopback: new and changed versions, each once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.s3 import S3Source, ingested_pair, run_key
from connectors.s3.client import list_latest

pytestmark = pytest.mark.network


def put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_new_objects_are_discovered_with_uri_etag_size_and_utc_mtime(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    put(s3, bucket, "incoming/a.csv", b"id\n1\n")
    put(s3, bucket, "incoming/b.csv", b"id\n2\n3\n")
    put(s3, bucket, "elsewhere/c.csv", b"id\n4\n")  # outside the prefix
    put(s3, bucket, "incoming/folder/", b"")  # a folder placeholder, not an object

    found = make_source().discover()

    assert [o.uri for o in found] == [
        f"s3://{bucket}/incoming/a.csv",
        f"s3://{bucket}/incoming/b.csv",
    ]
    head = s3.head_object(Bucket=bucket, Key="incoming/b.csv")
    b = found[1]
    assert b.etag == head["ETag"].strip('"') and b.size == 7 and b.version_id is None
    assert (
        b.mtime is not None
        and b.mtime.utcoffset() is not None
        and b.mtime.utcoffset().total_seconds() == 0
    )
    assert b.sha256 == ""  # known only once fetched


def test_ingested_objects_are_not_discovered_again(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    put(s3, bucket, "incoming/a.csv", b"id\n1\n")
    ingested: set[tuple[str, str]] = set()
    source = make_source(ingested=ingested)

    first = source.discover()
    assert len(first) == 1
    ingested.update(ingested_pair(o) for o in first)  # what the lake commit records

    assert source.discover() == []
    put(s3, bucket, "incoming/b.csv", b"id\n2\n")
    assert [o.uri.rsplit("/", 1)[-1] for o in source.discover()] == ["b.csv"]


def test_an_overwritten_object_is_discovered_as_a_new_version(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    put(s3, bucket, "incoming/a.csv", b"id\n1\n")
    ingested: set[tuple[str, str]] = set()
    source = make_source(ingested=ingested)
    (old,) = source.discover()
    ingested.add(ingested_pair(old))

    put(s3, bucket, "incoming/a.csv", b"id\n1\n2\n")
    (new,) = source.discover()

    assert new.uri == old.uri and new.etag != old.etag
    assert run_key(new) != run_key(old)


def test_a_restarted_source_with_the_same_ingested_state_discovers_nothing_new(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    for i in range(3):
        put(s3, bucket, f"incoming/{i}.csv", f"id\n{i}\n".encode())
    committed = {ingested_pair(o) for o in make_source().discover()}

    # A new process: nothing is shared but the state read back from the lake (here a callable).
    restarted = make_source(ingested=lambda: committed)

    assert restarted.discover() == []


def test_a_versioned_bucket_reports_the_version_id_of_the_latest_version(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put(s3, bucket, "incoming/a.csv", b"id\n1\n")
    put(s3, bucket, "incoming/a.csv", b"id\n1\n2\n")
    put(s3, bucket, "incoming/gone.csv", b"id\n3\n")
    s3.delete_object(Bucket=bucket, Key="incoming/gone.csv")  # latest version is a delete marker

    (a,) = make_source().discover()

    latest = s3.head_object(Bucket=bucket, Key="incoming/a.csv")
    assert a.version_id == latest["VersionId"] and a.etag == latest["ETag"].strip('"')


def test_listing_follows_every_page(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    keys = [f"incoming/{i:02d}.csv" for i in range(7)]
    for key in keys:
        put(s3, bucket, key, b"id\n1\n")
    client = make_source().client

    for versioned in (False, True):
        listed = list_latest(
            client, bucket=bucket, prefix="incoming/", versioned=versioned, page_size=2
        )
        assert sorted(item.key for item in listed) == keys


def test_start_after_lists_only_later_keys(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        put(s3, bucket, f"incoming/{day}.csv", b"id\n1\n")

    found = make_source().discover(start_after="incoming/2026-01-01.csv")

    assert [o.uri.rsplit("/", 1)[-1] for o in found] == ["2026-01-02.csv", "2026-01-03.csv"]
