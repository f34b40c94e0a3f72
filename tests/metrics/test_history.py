"""Cost and SLO records land in Delta tables once per (run, dataset) and reach the DuckDB catalog."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from lake.delta import Lake
from metrics.cost import cost_record_for_report, measure
from metrics.history import (
    append_cost_records,
    append_slo_records,
    publish_metrics,
    read_cost_history,
    read_slo_history,
    table_uri,
)
from metrics.prices import load_prices
from metrics.slo import slo_record
from metrics.tables import COST_SCHEMA, SLO_SCHEMA
from pipeline.run import ingest_dataset
from tests.metrics.metrics_helpers import NOW, as_record, measured_ingest, orders_csv, run

ORDERS = load_contracts()["orders"]


def test_a_measured_run_is_stored_once_and_queryable_from_duckdb(tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    orders_csv(tmp_path / "orders.csv", 2_000)
    _, record = measured_ingest(tmp_path / "orders.csv", lake, run_id="run-1")

    [first] = append_cost_records(lake, [record])
    [again] = append_cost_records(lake, [record])  # a retried step records the same run
    assert first.committed and not again.committed
    assert DeltaTable(table_uri(lake, "cost")).to_pyarrow_table().num_rows == 1

    catalog = tmp_path / "catalog.duckdb"
    published = publish_metrics(catalog, lake)
    assert [p["table"] for p in published] == ["metrics.cost"]
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        row = con.execute(
            "select run_id, dataset, events_ingested, bytes_read, bytes_written, cpu_s, "
            "total_usd, cost_per_1000_events from metrics.cost"
        ).fetchone()
    finally:
        con.close()
    assert row[:5] == ("run-1", "orders", 2_000, record.bytes_read, record.bytes_written)
    assert row[5] == pytest.approx(record.cpu_s) and row[5] > 0
    assert row[6] == pytest.approx(record.total_usd)
    assert row[7] == pytest.approx(record.total_usd / 2_000 * 1000)


def test_the_run_report_of_ingest_dataset_becomes_a_cost_record(tmp_path: Path) -> None:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    path = tmp_path / "orders.csv"
    valid = orders_csv(path, 1_000)
    spec = SourceSpec(name="orders_csv", kind="csv", dataset="orders", options={"paths": [str(path)]})
    with measure() as usage:
        report = ingest_dataset(settings, ORDERS, [spec], publish=False)
    lake = Lake(root=settings.lake_uri)
    record = cost_record_for_report(report, usage, run_id="dagster-run-1", lake=lake, prices=load_prices())
    assert (record.dataset, record.status, record.inputs) == ("orders", "success", 1)
    assert (record.events_ingested, record.rows_committed) == (1_000, valid)
    assert record.bytes_read == path.stat().st_size
    assert record.storage_bytes == report.bronze["bytes"] + report.quarantine["bytes"]
    assert record.bytes_written == record.storage_bytes  # first run: every live file is new

    append_cost_records(lake, [record])
    slo = slo_record(read_cost_history(lake, dataset="orders"), ORDERS, run_id="dagster-run-1")
    append_slo_records(lake, [slo])
    append_slo_records(lake, [slo])
    assert read_slo_history(lake).height == 1
    catalog = tmp_path / "catalog.duckdb"
    assert {p["table"] for p in publish_metrics(catalog, lake)} == {"metrics.cost", "metrics.slo"}
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        status, lag = con.execute("select status, freshness_lag_s from metrics.slo").fetchone()
    finally:
        con.close()
    assert status == "ok" and lag < 3600


def test_history_reads_back_by_dataset_time_and_last_n(tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    records = [
        as_record(run(NOW - timedelta(hours=h), dataset=ds))
        for ds in ("orders", "customers")
        for h in range(6)
    ]
    append_cost_records(lake, records)
    all_rows = read_cost_history(lake)
    assert all_rows.height == 12 and all_rows["started_at"].is_sorted()
    assert read_cost_history(lake, dataset="orders").height == 6
    assert read_cost_history(lake, since=NOW - timedelta(hours=2)).height == 6
    last = read_cost_history(lake, last_n=2)
    assert sorted(last["dataset"].to_list()) == ["customers"] * 2 + ["orders"] * 2
    assert last["started_at"].min() == NOW - timedelta(hours=1)


def test_empty_history_has_the_full_schema(tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    assert read_cost_history(lake).columns == COST_SCHEMA.names
    assert read_slo_history(lake).columns == SLO_SCHEMA.names
    assert publish_metrics(tmp_path / "catalog.duckdb", lake) == []


def test_the_table_schemas_list_the_record_fields_in_order() -> None:
    from dataclasses import fields

    from metrics.cost import CostRecord
    from metrics.slo import SloRecord

    assert [f.name for f in fields(CostRecord)] == COST_SCHEMA.names
    assert [f.name for f in fields(SloRecord) if f.name != "parsed"] == SLO_SCHEMA.names
