"""OpenLineage for Maestro: events for every materialization, validated, kept in the ledger.

- Build RunEvents (START / COMPLETE / FAIL): :func:`ingest_event`, :func:`dbt_model_event`
  (with :class:`DbtProject`), :func:`asset_event`; run identity :class:`RunContext`.
- Validate them against the official schemas, each facet against its own:
  :class:`EventValidator` / :func:`validate_event`.
- Record them: :class:`LedgerTransport` (an openlineage-python transport, kind
  ``maestro_ledger``) appends value-free canonical JSON to the provenance ledger and can forward
  to Marquez.
- Ask the ledger: :class:`LineageIndex` (upstream, downstream, columns, runs), also as a CLI
  (``python -m provenance.lineage.cli``) and an HTTP endpoint (``python -m
  provenance.lineage.server``) that accepts events from any OpenLineage producer.

Names follow the OpenLineage naming conventions (:mod:`provenance.lineage.naming`). Nothing here
imports dagster; the orchestration calls these functions from its asset bodies.

>>> import uuid
>>> run = RunContext.for_dagster(dagster_run_id=str(uuid.uuid4()), dagster_job_name="daily",
...                              job_name="asset.catalog")
>>> event = asset_event("START", job_name="asset.catalog", run=run)
>>> validate_event(event).ok
True
"""

from provenance.lineage.catalog import CatalogSnapshot
from provenance.lineage.common import RunContext, stable_run_id
from provenance.lineage.datasets import Assertion, ColumnInput, DatasetSpec, SchemaField
from provenance.lineage.entry import redact_event, to_ledger_entry
from provenance.lineage.events import (
    DbtProject,
    assertions_from_checks,
    asset_event,
    catalog_table_spec,
    dbt_model_event,
    dbt_test_assertions,
    delta_table_spec,
    derived_table_spec,
    identity_lineage,
    ingest_event,
)
from provenance.lineage.naming import DatasetRef
from provenance.lineage.query import LineageIndex
from provenance.lineage.settings import LineageSettings
from provenance.lineage.transport import LedgerTransport, LedgerTransportConfig
from provenance.lineage.validate import EventValidator, ValidationReport, validate_event

__all__ = [
    "Assertion",
    "CatalogSnapshot",
    "ColumnInput",
    "DatasetRef",
    "DatasetSpec",
    "DbtProject",
    "EventValidator",
    "LedgerTransport",
    "LedgerTransportConfig",
    "LineageIndex",
    "LineageSettings",
    "RunContext",
    "SchemaField",
    "ValidationReport",
    "asset_event",
    "assertions_from_checks",
    "catalog_table_spec",
    "derived_table_spec",
    "dbt_model_event",
    "dbt_test_assertions",
    "delta_table_spec",
    "identity_lineage",
    "ingest_event",
    "redact_event",
    "stable_run_id",
    "to_ledger_entry",
    "validate_event",
]
