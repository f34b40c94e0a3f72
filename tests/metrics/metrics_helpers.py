"""Shared test helpers: generated orders files, ingest under measure(), synthetic run histories.

``tests/metrics`` has no ``__init__.py`` on purpose: as a package it would be named ``metrics`` and
shadow the library package of that name; without one, pytest puts this folder on ``sys.path`` and
the tests import this module as ``tests.metrics.metrics_helpers``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.csv import CsvSource, CsvSourceConfig
from contracts.loader import load_contracts
from lake.delta import Lake
from metrics.cost import CostRecord, cost_record, measure
from metrics.prices import load_prices
from pipeline.ingest import IngestResult, ingest_object

HEADER = "order_id,customer_id,ordered_at,amount,currency,status,quantity"


def orders_csv(path: Path, rows: int, *, start: int = 1) -> int:
    """Write an orders file with every 50th row invalid (as tests/pipeline do); return valid rows."""
    lines = [HEADER]
    valid = 0
    for i in range(start, start + rows):
        amount = "oops" if i % 50 == 0 else f"{i % 997}.25"
        valid += i % 50 != 0
        lines.append(
            f"ORD-{i:06d},{1000 + i % 300},2026-11-01T10:{i % 60:02d}:00Z,{amount},EUR,paid,{1 + i % 5}"
        )
    path.write_text("\n".join(lines) + "\n")
    return valid


def csv_source(path: Path) -> CsvSource:
    return CsvSource(CsvSourceConfig(name="metrics_test", dataset="orders", paths=[str(path)]))


def measured_ingest(
    path: Path, lake: Lake, *, run_id: str, now: datetime | None = None
) -> tuple[IngestResult, CostRecord]:
    """Ingest ``path`` into ``lake`` inside measure(); return the result and its priced record."""
    contract = load_contracts()["orders"]
    src = csv_source(path)
    obj = src.discover()[0]
    with measure() as usage:
        result = ingest_object(src, obj, contract, lake, now=now)
    record = cost_record(
        run_id=run_id,
        dataset="orders",
        usage=usage,
        results=[result],
        lake=lake,
        prices=load_prices(),
    )
    return result, record


def run(
    started_at: datetime,
    *,
    dataset: str = "orders",
    status: str = "success",
    events: int = 1000,
    quarantined: int = 10,
    wall_s: float = 1.0,
    total_usd: float = 0.0001,
    last_ingested_at: datetime | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One synthetic ``metrics/cost`` row (the columns SLO and budget evaluation read)."""
    return {
        "run_id": run_id or f"{dataset}-{started_at.isoformat()}",
        "dataset": dataset,
        "started_at": started_at,
        "status": status,
        "cpu_s": wall_s / 2,
        "wall_s": wall_s,
        "bytes_read": events * 50,
        "bytes_written": events * 10,
        "storage_bytes": events * 100,
        "events_ingested": events,
        "rows_committed": events - quarantined,
        "rows_quarantined": quarantined,
        "duplicates": 0,
        "inputs": 1,
        "input_errors": int(status == "failed"),
        "io_measured": True,
        "last_ingested_at": last_ingested_at if last_ingested_at is not None else started_at,
        "total_usd": total_usd,
        "cost_per_1000_events": total_usd / events * 1000 if events else None,
    }


def as_record(row: dict[str, Any]) -> CostRecord:
    """A :class:`CostRecord` from a :func:`run` row (fields it lacks are zero or unknown)."""
    defaults: dict[str, Any] = {"requests": None, "requests_get": None, "requests_put": None,
                                "io_read_bytes": 0, "io_write_bytes": 0}  # fmt: skip
    return CostRecord(**{**defaults, **row})


def hourly_runs(now: datetime, hours: int, **kwargs: Any) -> list[dict[str, Any]]:
    """One successful run per hour for the last ``hours`` hours, the newest 30 minutes ago."""
    return [run(now - timedelta(minutes=30) - timedelta(hours=h), **kwargs) for h in range(hours)]


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
