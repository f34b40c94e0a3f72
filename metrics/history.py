"""Cost and SLO history in the lake: Delta tables ``metrics/cost`` and ``metrics/slo``.

Each record is appended under its own Delta application transaction, app id
``maestro-metrics:cost:<run id>:<dataset>`` (``...:slo:...`` for SLO records), in the same commit
as its row: re-recording a run (a retry, a re-executed Dagster step) commits nothing. History is
read back as polars DataFrames for windows, checks, plots and reports, and published to the
analysts' DuckDB catalog as ``metrics.cost`` and ``metrics.slo``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from lake.catalog import publish_table
from lake.delta import CommitResult, Lake, append_idempotent, open_table
from lake.exceptions import CatalogError, LakeError
from metrics.cost import CostRecord
from metrics.exceptions import MetricsStoreError
from metrics.slo import SloRecord
from metrics.tables import COST_SCHEMA, SLO_SCHEMA, to_arrow

LAYER = "metrics"
COST = "cost"
SLO = "slo"
_DESCRIPTIONS = {
    COST: "Measured resource use and cost per ingest run and dataset (metrics/cost.py)",
    SLO: "SLO evaluations per dataset: freshness, throughput, success and pass rate, burn rates",
}


def table_uri(lake: Lake, name: str) -> str:
    """URI of ``metrics/<name>`` (``cost`` or ``slo``) in ``lake``."""
    return lake.table_uri(LAYER, name)


def app_id(kind: str, run_id: str, dataset: str) -> str:
    return f"maestro-metrics:{kind}:{run_id}:{dataset}"


def _append(lake: Lake, name: str, schema: pa.Schema, records: Sequence[Any]) -> list[CommitResult]:
    uri = table_uri(lake, name)
    out = []
    for rec in records:
        try:
            out.append(
                append_idempotent(
                    uri,
                    to_arrow([rec], schema).to_batches(),
                    schema=schema,
                    app_id=app_id(name, rec.run_id, rec.dataset),
                    storage_options=lake.options(),
                    name=f"{LAYER}_{name}",
                    description=_DESCRIPTIONS[name],
                    metadata={"maestro.metrics": {"run_id": rec.run_id, "dataset": rec.dataset}},
                )
            )
        except LakeError as err:
            raise MetricsStoreError(
                f"could not record {name} metrics of run {rec.run_id} for dataset "
                f"{rec.dataset} in {uri}: {err}; retry the step"
            ) from err
    return out


def append_cost_records(lake: Lake, records: Iterable[CostRecord]) -> list[CommitResult]:
    """Append cost records to ``metrics/cost``; a (run id, dataset) already there is skipped."""
    return _append(lake, COST, COST_SCHEMA, list(records))


def append_slo_records(lake: Lake, records: Iterable[SloRecord]) -> list[CommitResult]:
    """Append SLO records to ``metrics/slo``; a (run id, dataset) already there is skipped."""
    return _append(lake, SLO, SLO_SCHEMA, list(records))


def _read(
    lake: Lake,
    name: str,
    schema: pa.Schema,
    time_col: str,
    *,
    dataset: str | None,
    since: datetime | None,
    last_n: int | None,
) -> pl.DataFrame:
    uri = table_uri(lake, name)
    try:
        dt = open_table(uri, storage_options=lake.options())
        table = dt.to_pyarrow_table() if dt is not None else schema.empty_table()
    except Exception as err:  # delta-rs raises several types for an unreachable store
        raise MetricsStoreError(f"could not read {name} metrics from {uri}: {err}; retry") from err
    frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
    if dataset is not None:
        frame = frame.filter(pl.col("dataset") == dataset)
    if since is not None:
        frame = frame.filter(pl.col(time_col) >= since)
    frame = frame.sort(time_col)
    if last_n is not None:
        frame = frame.group_by("dataset", maintain_order=True).tail(last_n).sort(time_col)
    return frame


def read_cost_history(
    lake: Lake,
    *,
    dataset: str | None = None,
    since: datetime | None = None,
    last_n: int | None = None,
) -> pl.DataFrame:
    """Rows of ``metrics/cost`` (empty with the full schema when there are none), oldest first.

    Args:
        dataset: only this dataset.
        since: only runs started at or after this time.
        last_n: only each dataset's last ``last_n`` runs.
    """
    return _read(lake, COST, COST_SCHEMA, "started_at", dataset=dataset, since=since, last_n=last_n)


def read_slo_history(
    lake: Lake,
    *,
    dataset: str | None = None,
    since: datetime | None = None,
    last_n: int | None = None,
) -> pl.DataFrame:
    """Rows of ``metrics/slo``, oldest evaluation first (filters as :func:`read_cost_history`)."""
    return _read(lake, SLO, SLO_SCHEMA, "evaluated_at", dataset=dataset, since=since, last_n=last_n)


def publish_metrics(catalog_path: str | os.PathLike[str], lake: Lake) -> list[dict[str, Any]]:
    """Publish ``metrics/cost`` and ``metrics/slo`` (those that exist) to the DuckDB catalog."""
    out = []
    for name in (COST, SLO):
        uri = table_uri(lake, name)
        if open_table(uri, storage_options=lake.options()) is None:
            continue
        try:
            out.append(publish_table(catalog_path, LAYER, name, uri, storage_options=lake.options()))
        except CatalogError as err:
            raise MetricsStoreError(f"could not publish {LAYER}.{name} to {catalog_path}: {err}") from err
    return out
