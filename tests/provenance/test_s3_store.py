"""The S3 ledger store against a real S3 endpoint: moto's server on loopback, in its own process.

No patched clients: the store builds its boto3 client from the AWS default chain, pointed at the
server through `AWS_ENDPOINT_URL`, exactly as it would reach AWS or MinIO. The concurrency test
is the point of the design: two processes appending at once must neither lose nor duplicate an
entry, which holds because every batch is a conditional PUT of a key only its first index names.
"""

from __future__ import annotations

import multiprocessing
import socket
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.s3.local_server import LocalS3, local_s3_server, unique_bucket
from provenance.exceptions import LedgerBusyError, LedgerConfigError, LedgerCorruptError
from provenance.ledger import (
    Ledger,
    verify_consistency,
    verify_inclusion,
    verify_ledger,
)
from provenance.ledger.framing import frame_records
from provenance.ledger.hasher import RFC6962
from provenance.ledger.keys import load_verifier
from provenance.ledger.s3 import S3Store
from provenance.ledger.s3_io import LedgerUnavailableError, make_client
from provenance.ledger.store import open_store

from .conftest import make_entry

pytestmark = pytest.mark.network

ORIGIN = "example.com/ledger/s3-test"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[LocalS3]:
    with local_s3_server(separate_process=True) as server:
        yield server


@pytest.fixture
def s3(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch) -> LocalS3:
    """The server, with the AWS default chain of this process (and its children) pointed at it."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def bucket(s3: LocalS3) -> str:
    name = unique_bucket("ledger")
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def location(bucket: str) -> str:
    return f"s3://{bucket}/lake/_ledger"


def keys_under(s3: LocalS3, bucket: str, prefix: str) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def batch_key(first: int) -> str:
    return f"lake/_ledger/entries/{first:020d}.bin"


def record_span(data: bytes, record: int) -> tuple[int, int]:
    """(start, end) of record `record` in a batch object, read independently of the store."""
    pos = 0
    for _ in range(record):
        pos += 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0]
    return pos, pos + 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0]


def build(location: str, keys: Path, *, n: int = 30, batch: int = 5) -> list[bytes]:
    """A ledger of `n` entries in batches of `batch`, with a checkpoint covering all of them."""
    entries = [make_entry(i) for i in range(n)]
    with Ledger.open(location, key_dir=keys, origin=ORIGIN) as ledger:
        for i in range(0, n, batch):
            ledger.append_many(entries[i : i + batch])
        ledger.checkpoint()
    return entries


def test_the_test_server_refuses_a_second_conditional_put_of_one_key(
    s3: LocalS3, bucket: str
) -> None:
    from botocore.exceptions import ClientError

    client = s3.client()
    client.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_a_ledger_on_s3_appends_checkpoints_proves_and_verifies(
    s3: LocalS3, bucket: str, location: str, tmp_path: Path
) -> None:
    entries = [make_entry(i) for i in range(41)]
    batches = [entries[0:1], entries[1:10], entries[10:11], entries[11:41]]
    keys = tmp_path / "keys"
    with Ledger.open(location, key_dir=keys, origin=ORIGIN) as ledger:
        assert ledger.store.kind == "s3"
        assert ledger.append(batches[0][0]) == 0
        assert ledger.append_many(batches[1]) == 1
        first = ledger.checkpoint()
        assert ledger.append_many(batches[2]) == 10
        assert ledger.append_many(batches[3]) == 11
        second = ledger.checkpoint()
        vkey = ledger.verifier.vkey
        for index in (0, 9, 10, 40):
            proof = ledger.inclusion_proof(index, second.checkpoint.size)
            assert verify_inclusion(entries[index], proof, second.note, vkey).size == 41
        consistency = ledger.consistency_proof(first.checkpoint.size, second.checkpoint.size)
        verify_consistency(first.note, second.note, consistency, vkey)
        report = ledger.verify()
        assert report.ok, report.summary()
        assert (report.size, report.checkpoints) == (41, 2)
        root, proof_of_10 = ledger.root(), ledger.inclusion_proof(10, 41)

    assert sorted(keys_under(s3, bucket, "lake/_ledger/")) == [
        "lake/_ledger/checkpoints/0000000000.note",
        "lake/_ledger/checkpoints/0000000001.note",
        *(batch_key(start) for start in (0, 1, 10, 11)),
        "lake/_ledger/ledger.json",
    ]
    # Each batch object is the local log's framing of its entries: the same bytes, split up.
    client = s3.client()
    for start, batch in zip((0, 1, 10, 11), batches, strict=True):
        stored = client.get_object(Bucket=bucket, Key=batch_key(start))["Body"].read()
        assert stored == frame_records(batch, RFC6962.hash_leaves(batch))[0]
    # The same entries in a local ledger give the same tree.
    with Ledger.open(tmp_path / "local", key_dir=tmp_path / "local-keys") as local:
        local.append_many(entries)
        assert local.root() == root

    with Ledger.open(location, key_dir=keys, read_only=True) as reader:
        assert reader.size == 41 and reader.root() == root
        assert [reader.entry(i) for i in range(41)] == entries
        assert reader.inclusion_proof(10, 41) == proof_of_10
        with pytest.raises(LedgerConfigError, match="read-only"):
            reader.append(b"x")
    assert verify_ledger(location, verifier=load_verifier(keys, ORIGIN)).ok


def test_a_writer_beaten_to_the_end_catches_up_and_appends_after_the_other(
    location: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    with Ledger.open(location, key_dir=keys) as a, Ledger.open(location, key_dir=keys) as b:
        assert a.append_many([b"a0", b"a1"]) == 0
        assert b.append(b"b0") == 2  # b thought the ledger was empty: its PUT at 0 was refused
        assert a.append(b"a2") == 3
        assert a.checkpoint().checkpoint.size == 4
        signed = b.checkpoint()  # b catches up and finds a's checkpoint already covers it all
        assert (signed.number, signed.checkpoint.size) == (0, 4)
        b.append(b"b1")
        assert (a.checkpoint().number, a.size) == (1, 5)
    with Ledger.open(location, key_dir=keys, read_only=True) as reader:
        assert [reader.entry(i) for i in range(reader.size)] == [b"a0", b"a1", b"b0", b"a2", b"b1"]
        report = reader.verify()
        assert report.ok and report.checkpoints == 2, report.summary()


def _append_as(location: str, keys: str, writer: str, batches: int, start: Any, out: Any) -> None:
    """Child process: append `batches` batches of 1-3 tagged entries; report (index, entry)."""
    start.wait(30)
    placed: list[tuple[int, bytes]] = []
    with Ledger.open(location, key_dir=keys) as ledger:
        for seq in range(batches):
            batch = [f"{writer}-{seq}-{j}".encode() for j in range(1 + seq % 3)]
            first = ledger.append_many(batch)
            placed += [(first + j, entry) for j, entry in enumerate(batch)]
            if seq % 8 == 7:
                ledger.checkpoint()
        ledger.checkpoint()
        conflicts = ledger.store.conflicts  # type: ignore[attr-defined]
    out.put((writer, placed, conflicts))


@pytest.mark.slow
def test_two_processes_appending_at_once_store_every_entry_exactly_once(
    s3: LocalS3, bucket: str, location: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    with Ledger.open(location, key_dir=keys, origin=ORIGIN) as ledger:
        ledger.checkpoint()  # creates the signing key both writers share
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    writers = [
        ctx.Process(target=_append_as, args=(location, str(keys), name, 24, start, out))
        for name in ("a", "b")
    ]
    for proc in writers:
        proc.start()
    start.set()
    reports = [out.get(timeout=120) for _ in writers]
    placed = {writer: entries for writer, entries, _ in reports}
    print("conflicts per writer:", {writer: n for writer, _, n in reports})
    for proc in writers:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in writers] == [0, 0]

    with Ledger.open(location, key_dir=keys, read_only=True) as reader:
        stored = [reader.entry(i) for i in range(reader.size)]
        report = reader.verify()
    expected = [f"{w}-{s}-{j}".encode() for w in "ab" for s in range(24) for j in range(1 + s % 3)]
    assert Counter(stored) == Counter(expected) and len(stored) == len(expected)
    for writer in "ab":  # each writer got back the index its entries really have
        assert all(stored[index] == entry for index, entry in placed[writer])
    assert report.ok, report.summary()
    assert report.checkpoints >= 3
    batches = sorted(k for k in keys_under(s3, bucket, "lake/_ledger/entries/"))
    assert len(batches) == 48  # one object per append, none overwritten, none duplicated


def test_an_altered_entry_object_is_reported_by_verify_at_its_index(
    s3: LocalS3, bucket: str, location: str, tmp_path: Path
) -> None:
    build(location, tmp_path / "keys")
    client = s3.client()
    data = bytearray(client.get_object(Bucket=bucket, Key=batch_key(10))["Body"].read())
    start, end = record_span(bytes(data), 2)
    data[end - 3] ^= 0x01  # one bit of entry 12's payload
    client.put_object(Bucket=bucket, Key=batch_key(10), Body=bytes(data))

    report = verify_ledger(location, verifier=load_verifier(tmp_path / "keys", ORIGIN))
    assert not report.ok
    assert report.first_bad_entry == 12, report.summary()
    assert "entries/00000000000000000010.bin" in report.summary()
    with pytest.raises(LedgerCorruptError) as caught:
        Ledger.open(location, key_dir=tmp_path / "keys")
    assert caught.value.index == 12
    store = open_store(location, mode="read")
    try:
        assert store.entry(11) == make_entry(11)  # what is intact stays readable
        with pytest.raises(LedgerCorruptError, match="checksum"):
            store.entry(12)
    finally:
        store.close()


def test_an_entry_rewritten_whole_after_the_ledger_was_opened_is_reported_at_its_index(
    s3: LocalS3, bucket: str, location: str, tmp_path: Path
) -> None:
    entries = build(location, tmp_path / "keys")
    with Ledger.open(location, key_dir=tmp_path / "keys", read_only=True) as reader:
        forged = [*entries[10:12], b'{"forged": true}', *entries[13:15]]
        body = frame_records(forged, RFC6962.hash_leaves(forged))[0]  # valid framing throughout
        s3.client().put_object(Bucket=bucket, Key=batch_key(10), Body=body)
        report = reader.verify()
    assert report.first_bad_entry == 12, report.summary()


@pytest.mark.parametrize("deleted", [0, 10, 25])
def test_a_deleted_entry_object_is_reported_by_verify_at_its_first_index(
    s3: LocalS3, bucket: str, location: str, tmp_path: Path, deleted: int
) -> None:
    build(location, tmp_path / "keys")
    s3.client().delete_object(Bucket=bucket, Key=batch_key(deleted))

    report = verify_ledger(location, verifier=load_verifier(tmp_path / "keys", ORIGIN))
    assert report.first_bad_entry == deleted, report.summary()
    assert "missing" in report.summary() or "removed" in report.summary()


def test_an_s3_location_that_is_not_a_ledger_is_refused_with_its_name(
    s3: LocalS3, bucket: str
) -> None:
    with pytest.raises(LedgerConfigError, match="not a ledger"):
        open_store(f"s3://{bucket}/nothing-here", mode="read")
    s3.client().put_object(Bucket=bucket, Key="lake/orders/part-0.parquet", Body=b"data")
    with pytest.raises(LedgerConfigError, match="holds objects but no ledger.json"):
        open_store(f"s3://{bucket}/lake")
    with pytest.raises(LedgerConfigError, match="no-such-ledger-bucket"):
        open_store("s3://no-such-ledger-bucket/ledger")
    with pytest.raises(LedgerConfigError, match="bucket name"):
        open_store("s3://Bad_Bucket/ledger")
    open_store(f"s3://{bucket}/ledger", origin=ORIGIN).close()
    with pytest.raises(LedgerConfigError, match="has origin"):
        open_store(f"s3://{bucket}/ledger", origin="example.com/other")


def test_an_unreachable_endpoint_is_a_retryable_error_naming_the_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        connect_timeout_s=1,
        read_timeout_s=1,
        max_attempts=2,
    )
    with pytest.raises(LedgerUnavailableError, match="ledger-bucket") as caught:
        S3Store.open("s3://ledger-bucket/ledger", client=client, max_attempts=2)
    assert isinstance(caught.value, LedgerBusyError)  # retryable, like a busy local ledger
