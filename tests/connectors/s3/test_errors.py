"""Every error path: unreadable objects name the object; an unreachable endpoint is retryable."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.base import SourceObject
from connectors.exceptions import SourceConfigError, SourceUnavailableError, SourceUnreadableError
from connectors.s3 import S3Config, S3ObjectChangedError, S3Source

pytestmark = pytest.mark.network

_GZIP = gzip.compress(b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i * 7919) for i in range(20_000)))
TRUNCATED_GZIP = _GZIP[: len(_GZIP) // 2]


def read_all(source: S3Source) -> None:
    for obj in source.discover():
        for _ in source.read(obj):
            pass


@pytest.mark.parametrize(
    ("key", "body", "problem"),
    [
        ("incoming/garbage.csv", bytes(range(256)) * 64, "NUL bytes"),
        ("incoming/truncated.csv.gz", TRUNCATED_GZIP, "gzip"),
        ("incoming/not.parquet", b"id\n1\n", "parquet"),
        ("incoming/notes.docx", b"PK\x03\x04", "set field 'format'"),
        ("incoming/zipped.csv", b"PK\x03\x04" + bytes(100), "zip archive"),
        ("incoming/bz.csv", b"BZh91AY&SY" + bytes(100), "bzip2"),
        ("incoming/dupes.csv", b"id,id\n1,2\n", "repeats column names"),
        ("incoming/reserved.csv", b"id,_maestro_error\n1,2\n", "reserved"),
        ("incoming/latin.csv", b"caf\xe9,id\n1,2\n", "not valid utf-8"),
    ],
    ids=[
        "garbage-csv",
        "truncated-gzip",
        "not-parquet",
        "unknown-extension",
        "zip-named-csv",
        "bzip2",
        "repeated-header",
        "reserved-column",
        "header-not-utf8",
    ],
)
def test_an_unreadable_object_raises_naming_the_object_and_the_problem(
    s3: Any, bucket: str, make_source: Callable[..., S3Source], key: str, body: bytes, problem: str
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)

    with pytest.raises(SourceUnreadableError) as info:
        read_all(make_source())

    message = str(info.value)
    assert f"s3://{bucket}/{key}" in message
    assert problem.lower() in message.lower()
    assert "s3_test" in message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def source_at(endpoint: str, session: Any, **overrides: Any) -> S3Source:
    config = S3Config(
        name="s3_test",
        dataset="orders",
        bucket="unreachable-bucket",
        endpoint_url=endpoint,
        addressing_style="path",
        **{"connect_timeout": 0.5, "read_timeout": 0.5, "max_attempts": 2, **overrides},
    )
    return S3Source(config, session=session)


def test_an_unreachable_endpoint_raises_a_retryable_error_naming_the_endpoint(
    s3_session: Any,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(SourceUnavailableError) as info:
        source_at(endpoint, s3_session, versioned=False).discover()

    assert endpoint in str(info.value)
    assert "s3://unreachable-bucket/" in str(info.value)


@pytest.fixture
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback TCP server that accepts each connection and closes it at once, counting them."""
    accepted: list[int] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)  # so the loop notices `stop` promptly
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_retries_are_bounded_by_max_attempts(
    s3_session: Any, hanging_up_server: tuple[str, list[int]]
) -> None:
    endpoint, accepted = hanging_up_server

    with pytest.raises(SourceUnavailableError, match="127.0.0.1"):
        source_at(endpoint, s3_session, versioned=False, max_attempts=3).discover()

    assert len(accepted) == 3


def test_an_object_overwritten_after_discovery_is_reported_as_changed_not_read(
    s3: Any, bucket: str, make_source: Callable[..., S3Source], tmp_path: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"id\n1\n")
    source = make_source()
    (obj,) = source.discover()
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"id\n2\n")

    with pytest.raises(S3ObjectChangedError, match=f"s3://{bucket}/incoming/a.csv"):
        source.fetch(obj, tmp_path)
    assert not list(tmp_path.iterdir())  # no partial spool file left behind


def test_a_pinned_version_is_read_even_after_the_key_is_overwritten(
    s3: Any, bucket: str, make_source: Callable[..., S3Source]
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"id\n1\n")
    source = make_source()
    (obj,) = source.discover()
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"id\n2\n")

    assert [r for b in source.read(obj) for r in b.to_pylist()] == [{"id": "1"}]


def test_a_missing_bucket_is_a_configuration_error_naming_the_field(
    make_source: Callable[..., S3Source],
) -> None:
    with pytest.raises(SourceConfigError, match="'bucket'"):
        make_source(bucket="no-such-bucket-here").discover()


@pytest.fixture
def short_body_server() -> Iterator[str]:
    """An HTTP server that promises 1,000 body bytes, sends 10 and hangs up: a broken download."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: "e1"\r\n\r\n0123456789'
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_download_cut_short_is_retryable_and_leaves_no_spool_file(
    s3_session: Any, short_body_server: str, tmp_path: Any
) -> None:
    source = source_at(short_body_server, s3_session, versioned=False)
    obj = SourceObject(
        uri="s3://unreachable-bucket/incoming/a.csv", sha256="", size=1000, etag="e1"
    )

    with pytest.raises(SourceUnavailableError, match="s3://unreachable-bucket/incoming/a.csv"):
        source.fetch(obj, tmp_path)
    assert not list(tmp_path.iterdir())
