"""OpenLineage RunEvents for Maestro's materializations: ingest, dbt models, any other asset.

Call a builder at each lifecycle step of an asset and emit what it returns (e.g. through
:class:`~provenance.lineage.transport.LedgerTransport`):

- START before the work, with what is known then (outputs with schema and contract);
- COMPLETE after it, with inputs, outputs, statistics, column lineage, checks, versions;
- FAIL when it raised, with the error (and whatever inputs were read before).

Builders (all return ``openlineage.client.event_v2.RunEvent``):

- :func:`ingest_event` — one dataset ingest (:mod:`.ingest_events`);
- :func:`dbt_model_event` — one dbt model or seed (:mod:`.dbt_events`);
- :func:`asset_event` — any other asset (the DuckDB catalog, metric assets) with explicit
  :class:`~provenance.lineage.datasets.DatasetSpec` inputs and outputs; :func:`catalog_table_spec`
  and :func:`delta_table_spec` build the usual ones.

No row values ever enter an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from openlineage.client.event_v2 import RunEvent

from provenance.lineage.common import EventKind, RunContext, job_facets, producer_uri, run_event
from provenance.lineage.datasets import (
    DatasetSpec,
    catalog_table_spec,
    delta_table_spec,
    derived_table_spec,
    identity_lineage,
)
from provenance.lineage.dbt_events import DbtProject, dbt_model_event, dbt_test_assertions
from provenance.lineage.ingest_events import assertions_from_checks, ingest_event

__all__ = [
    "DbtProject",
    "asset_event",
    "assertions_from_checks",
    "catalog_table_spec",
    "derived_table_spec",
    "dbt_model_event",
    "dbt_test_assertions",
    "delta_table_spec",
    "identity_lineage",
    "ingest_event",
]


def asset_event(
    event_type: EventKind,
    *,
    job_name: str,
    run: RunContext,
    inputs: Sequence[DatasetSpec] = (),
    outputs: Sequence[DatasetSpec] = (),
    job_type: str = "ASSET",
    source_path: str | Path | None = None,
    description: str | None = None,
    sql: str | None = None,
    error: BaseException | str | None = None,
    event_time: datetime | None = None,
    repo_root: Path | None = None,
) -> RunEvent:
    """The event of any other asset (catalog publishing, metrics ...), datasets given explicitly.

    Args:
        job_name: e.g. ``naming.asset_job_name("catalog")``.
        inputs, outputs: the datasets, built with :class:`DatasetSpec` or the helpers here.
        job_type: the ``jobType`` facet's value (``ASSET``, ``METRIC`` ...).
        source_path: the code that does the work, relative to the repository root.
    """
    producer = producer_uri()
    return run_event(
        event_type,
        job_name=job_name,
        job_facet_map=job_facets(
            job_type,
            producer=producer,
            source_path=source_path,
            repo_root=repo_root,
            description=description,
            sql=sql,
        ),
        run=run,
        inputs=inputs,
        outputs=outputs,
        error=error,
        event_time=event_time,
        producer=producer,
    )
