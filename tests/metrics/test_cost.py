"""Cost records come from measured resource use: CPU, wall time, bytes read, written and stored."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lake.delta import Lake, table_facts
from metrics.cost import Requests, cost_record, measure, newest_ingested_at, table_file_sizes
from metrics.prices import GB, load_prices
from tests.metrics.metrics_helpers import csv_source, measured_ingest, orders_csv

SMALL = 20_000


@pytest.fixture(scope="module")
def small_and_large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Ingest a small and a 10x larger orders file, each into its own lake, inside measure()."""
    tmp = tmp_path_factory.mktemp("cost")
    # Warm up imports, regex compilation and the Delta writer so neither measured run pays for them.
    orders_csv(tmp / "warmup.csv", 500)
    measured_ingest(tmp / "warmup.csv", Lake(root=str(tmp / "warmup")), run_id="warmup")
    out: dict[str, object] = {}
    for name, rows in (("small", SMALL), ("large", 10 * SMALL)):
        path = tmp / f"orders_{name}.csv"
        orders_csv(path, rows)
        lake = Lake(root=str(tmp / f"lake_{name}"))
        result, record = measured_ingest(path, lake, run_id=f"run-{name}")
        out[name] = (path, lake, result, record)
    return out


def test_a_ten_times_larger_input_reads_writes_and_burns_proportionally_more(
    small_and_large: dict[str, object],
) -> None:
    (s_path, _, s_res, small), (l_path, _, l_res, large) = (
        small_and_large["small"],
        small_and_large["large"],
    )
    assert s_res.status == l_res.status == "committed"
    assert (small.events_ingested, large.events_ingested) == (SMALL, 10 * SMALL)
    # Bytes read are the input files' sizes, bytes written the Parquet files the commits added.
    assert (small.bytes_read, large.bytes_read) == (s_path.stat().st_size, l_path.stat().st_size)
    assert 5 <= large.bytes_read / small.bytes_read <= 20
    assert small.bytes_written > 0
    assert 5 <= large.bytes_written / small.bytes_written <= 20
    assert large.cpu_s > small.cpu_s > 0
    assert large.wall_s > 0 and small.wall_s > 0
    assert large.compute_usd > small.compute_usd
    assert large.total_usd > small.total_usd


def test_cost_is_the_measured_use_times_the_list_prices(small_and_large: dict[str, object]) -> None:
    prices = load_prices()
    for _, _, _, rec in (small_and_large["small"], small_and_large["large"]):
        assert rec.compute_usd == pytest.approx(rec.cpu_s * 0.1008 / 2 / 3600)
        assert rec.storage_usd == pytest.approx(rec.bytes_written / GB * 0.023)
        assert rec.transfer_usd == 0 and rec.requests_usd == 0 and rec.requests is None
        assert rec.total_usd == pytest.approx(
            rec.compute_usd + rec.storage_usd + rec.requests_usd + rec.transfer_usd
        )
        assert rec.cost_per_1000_events == pytest.approx(rec.total_usd / rec.events_ingested * 1000)
        assert 0 < rec.cost_per_1000_events < 0.10  # far below the plan's unit target
        assert rec.storage_month_usd == pytest.approx(rec.storage_bytes / GB * 0.023)
        assert rec.prices_id == prices.id


def test_bytes_written_are_the_add_actions_of_the_runs_commits(small_and_large: dict[str, object]) -> None:
    _, lake, result, record = small_and_large["small"]
    files = {}
    for layer in ("bronze", "quarantine"):
        files.update(table_file_sizes(lake.table_uri(layer, "orders")))
    # Each table got exactly one data commit, so the run added every live file.
    assert record.bytes_written == sum(files.values())
    assert record.storage_bytes == sum(
        table_facts(lake.table_uri(layer, "orders"))["bytes"] for layer in ("bronze", "quarantine")
    )
    assert (record.rows_committed, record.rows_quarantined) == (
        result.counts.valid,
        result.counts.rejected,
    )
    newest = DeltaTable(lake.table_uri("bronze", "orders")).to_pyarrow_table(columns=["_ingested_at"])
    # Delta file statistics keep timestamps to the millisecond.
    exact = pa.compute.max(newest.column("_ingested_at")).as_py()
    assert timedelta(0) <= exact - record.last_ingested_at < timedelta(milliseconds=1)


def test_a_rerun_of_committed_input_counts_no_events_and_writes_nothing(
    small_and_large: dict[str, object],
) -> None:
    path, lake, _, first = small_and_large["small"]
    result, again = measured_ingest(path, lake, run_id="run-again")
    assert result.status == "already_committed"
    assert (again.events_ingested, again.bytes_written, again.bytes_read) == (0, 0, 0)
    assert again.cost_per_1000_events is None
    assert again.storage_bytes == first.storage_bytes
    assert again.status == "success"


def test_a_failed_input_marks_the_run_failed_and_counts_its_bytes_read(tmp_path: Path) -> None:
    bad = tmp_path / "orders_bad.csv"
    bad.write_bytes(b"order_id,customer_id\nORD-000001,\xff\xfe\n")
    result, record = measured_ingest(bad, Lake(root=str(tmp_path / "lake")), run_id="run-bad")
    assert result.status == "failed"
    assert record.status == "failed" and record.input_errors == 1
    assert record.bytes_read == bad.stat().st_size
    assert record.events_ingested == 0 and record.bytes_written == 0


def test_measure_counts_the_cpu_of_child_processes(tmp_path: Path) -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    with measure() as usage:
        subprocess.run([sys.executable, "-c", burn], check=True)
    assert usage.cpu_s >= 0.25  # the parent only waited: the CPU is the child's
    assert usage.started_at.tzinfo is not None


def _fstype(path: Path) -> str:
    import psutil

    mounts = sorted(psutil.disk_partitions(all=True), key=lambda p: len(p.mountpoint), reverse=True)
    return next((m.fstype for m in mounts if str(path).startswith(m.mountpoint)), "")


def test_measure_records_operating_system_write_bytes(tmp_path: Path) -> None:
    import os

    with measure() as usage, open(tmp_path / "blob", "wb") as fh:
        fh.write(os.urandom(4 << 20))
        fh.flush()
        os.fsync(fh.fileno())
    if not usage.io_measured:
        pytest.skip("no per-process I/O counters on this platform")
    if _fstype(tmp_path) in ("tmpfs", "ramfs"):
        pytest.skip("a memory file system does no storage I/O to count")
    assert usage.io_write_bytes >= 4 << 20


def test_counted_requests_are_priced_per_thousand(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    orders_csv(path, 200)
    lake = Lake(root=str(tmp_path / "lake"))
    src = csv_source(path)
    from contracts.loader import load_contracts
    from pipeline.ingest import ingest_object

    with measure() as usage:
        result = ingest_object(src, src.discover()[0], load_contracts()["orders"], lake)
    rec = cost_record(
        run_id="r",
        dataset="orders",
        usage=usage,
        results=[result],
        lake=lake,
        prices=load_prices(),
        requests=Requests(get=2000, put=1000),
    )
    assert (rec.requests, rec.requests_get, rec.requests_put) == (3000, 2000, 1000)
    assert rec.requests_usd == pytest.approx(2 * 0.0004 + 1 * 0.005)


def test_freshness_falls_back_to_nothing_for_a_missing_table(tmp_path: Path) -> None:
    assert newest_ingested_at(str(tmp_path / "nope")) is None
