"""Arrow schemas of the ``metrics/cost`` and ``metrics/slo`` tables, and records as DataFrames.

The schemas list the record dataclasses' fields in order (a test keeps them in step), so a row
written today reads back with the same columns tomorrow; new columns are only ever added
(nullable), which the Delta writer merges into existing tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl
import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

COST_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("dataset", pa.string()),
        ("started_at", TS),
        ("status", pa.string()),
        ("cpu_s", pa.float64()),
        ("wall_s", pa.float64()),
        ("bytes_read", pa.int64()),
        ("bytes_written", pa.int64()),
        ("storage_bytes", pa.int64()),
        ("requests", pa.int64()),
        ("requests_get", pa.int64()),
        ("requests_put", pa.int64()),
        ("events_ingested", pa.int64()),
        ("rows_committed", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("duplicates", pa.int64()),
        ("inputs", pa.int64()),
        ("input_errors", pa.int64()),
        ("io_read_bytes", pa.int64()),
        ("io_write_bytes", pa.int64()),
        ("io_measured", pa.bool_()),
        ("last_ingested_at", TS),
        ("compute_usd", pa.float64()),
        ("storage_usd", pa.float64()),
        ("requests_usd", pa.float64()),
        ("transfer_usd", pa.float64()),
        ("total_usd", pa.float64()),
        ("cost_per_1000_events", pa.float64()),
        ("storage_month_usd", pa.float64()),
        ("prices_id", pa.string()),
    ]
)

SLO_SCHEMA = pa.schema(
    [
        ("evaluated_at", TS),
        ("dataset", pa.string()),
        ("run_id", pa.string()),
        ("freshness_lag_s", pa.float64()),
        ("freshness_slo_s", pa.float64()),
        ("freshness_warn_s", pa.float64()),
        ("throughput_rows_per_s", pa.float64()),
        ("success_rate", pa.float64()),
        ("success_target", pa.float64()),
        ("pass_rate", pa.float64()),
        ("pass_target", pa.float64()),
        ("success_burn_1h", pa.float64()),
        ("success_burn_24h", pa.float64()),
        ("pass_burn_1h", pa.float64()),
        ("pass_burn_24h", pa.float64()),
        ("runs_in_window", pa.int64()),
        ("status", pa.string()),
        ("message", pa.string()),
        ("outcomes", pa.string()),
    ]
)


def _rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.to_row() if hasattr(r, "to_row") else dict(r) for r in records]


def to_arrow(records: Iterable[Any], schema: pa.Schema) -> pa.Table:
    rows = _rows(records)
    return pa.Table.from_pylist([{k: row.get(k) for k in schema.names} for row in rows], schema=schema)


def as_frame(data: pl.DataFrame | Iterable[Any], schema: pa.Schema) -> pl.DataFrame:
    """``data`` (a DataFrame, or records / row dicts) as a DataFrame with ``schema``'s columns."""
    if isinstance(data, pl.DataFrame):
        return data
    return pl.from_arrow(to_arrow(data, schema))  # type: ignore[return-value]


def cost_frame(data: pl.DataFrame | Iterable[Any]) -> pl.DataFrame:
    return as_frame(data, COST_SCHEMA)


def slo_frame(data: pl.DataFrame | Iterable[Any]) -> pl.DataFrame:
    return as_frame(data, SLO_SCHEMA)
