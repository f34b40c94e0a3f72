"""Delta tables at s3://bucket/path on the loopback server, with the shared storage options.

The concurrency test is the point: two processes appending to one table at once must not lose a
commit. That holds only because every commit is a conditional PUT (``aws_conditional_put=etag``):
the loser of a race for version N gets a conflict and retries at N+1 instead of overwriting.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from connectors.s3.local_server import LocalS3, local_s3_server, unique_bucket

from ._delta_worker import append_rows

pytestmark = pytest.mark.network

APPENDS_PER_WRITER = 6


@pytest.fixture(scope="module")
def delta_s3() -> Iterator[LocalS3]:
    """A server in its own process: DeltaTable.history() blocks while holding the GIL, which an
    in-process server thread would need in order to answer."""
    with local_s3_server(separate_process=True) as server:
        yield server


@pytest.fixture
def delta_bucket(delta_s3: LocalS3) -> str:
    name = unique_bucket("delta")
    delta_s3.client().create_bucket(Bucket=name)
    return name


def storage_options(server: LocalS3) -> dict[str, str]:
    # Short budgets so a broken setup fails in seconds, not minutes.
    return server.delta_storage_options(timeout_s=10, retry_timeout_s=20, max_retries=3)


def test_deltalake_writes_and_reads_a_table_on_the_s3_endpoint(
    delta_s3: LocalS3, delta_bucket: str
) -> None:
    bucket = delta_bucket
    uri = f"s3://{bucket}/lake/orders"
    options = storage_options(delta_s3)
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})

    write_deltalake(uri, table, storage_options=options)
    write_deltalake(uri, table.slice(0, 1), mode="append", storage_options=options)

    dt = DeltaTable(uri, storage_options=options)
    assert dt.version() == 1
    assert dt.to_pyarrow_table().sort_by("id").column("id").to_pylist() == [1, 1, 2, 3]
    listing = delta_s3.client().list_objects_v2(Bucket=bucket, Prefix="lake/orders/_delta_log/")
    assert {o["Key"].rsplit("/", 1)[-1] for o in listing["Contents"]} >= {
        "00000000000000000000.json",
        "00000000000000000001.json",
    }


@pytest.mark.slow
def test_two_processes_appending_concurrently_lose_no_commit(
    delta_s3: LocalS3, delta_bucket: str
) -> None:
    uri = f"s3://{delta_bucket}/lake/events"
    options = storage_options(delta_s3)
    empty = pa.table({"writer": pa.array([], pa.string()), "seq": pa.array([], pa.int64())})
    write_deltalake(uri, empty, storage_options=options)  # version 0: the table exists

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    writers = [
        ctx.Process(target=append_rows, args=(uri, options, name, APPENDS_PER_WRITER, start))
        for name in ("a", "b")
    ]
    for proc in writers:
        proc.start()
    start.set()
    for proc in writers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in writers] == [0, 0]

    dt = DeltaTable(uri, storage_options=options)
    total = 2 * APPENDS_PER_WRITER
    logs = delta_s3.client().list_objects_v2(Bucket=delta_bucket, Prefix="lake/events/_delta_log/")
    commits = sorted(
        o["Key"].rsplit("/", 1)[-1] for o in logs["Contents"] if o["Key"].endswith(".json")
    )
    assert commits == [f"{v:020d}.json" for v in range(total + 1)]
    assert dt.version() == total  # versions 1..2N, one per append, none overwritten
    appends = [h for h in dt.history() if h.get("operation") == "WRITE" and h.get("version", 0) > 0]
    assert len(appends) == total
    rows = dt.to_pyarrow_table().to_pylist()
    expected = {(w, s) for w in ("a", "b") for s in range(APPENDS_PER_WRITER)}
    assert sorted((r["writer"], r["seq"]) for r in rows) == sorted(expected)
