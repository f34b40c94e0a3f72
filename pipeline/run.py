"""Ingest everything pending for one dataset, from every source bound to it.

This is what the Dagster ingest asset (and the demo, and tests) call. For each source the driver
of its kind (:mod:`pipeline.kinds`) finds, reads and settles its inputs:

- ``csv``: every file matching the paths is ingested (already-committed content is a no-op);
- ``file_drop``: the requested files (or every complete file) are claimed atomically, ingested,
  and archived with their manifest — or, when unreadable or not fitting the contract, moved to the
  drop folder's quarantine with an error report beside them (:mod:`pipeline.kinds.drop`);
- ``s3``, ``http_pull``, ``http_push``: :mod:`pipeline.kinds.s3`, ``.pull``, ``.push``.

Afterwards the bronze and quarantine tables, and the current state of keyed datasets, are
published to the DuckDB catalog so analysts (and dbt) see the new data at once. Failures of one
input never stop the others; they are returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from config.settings import Settings
from config.sources import SourceSpec
from connectors.exceptions import ConnectorError
from connectors.factory import build_source
from contracts.model import Contract
from lake.delta import Lake, ensure_table, table_facts
from pipeline.inputs import ingest_discovered
from pipeline.kinds.drop import ingest_drop_folder
from pipeline.kinds.pull import ingest_pull
from pipeline.kinds.push import ingest_push
from pipeline.kinds.s3 import ingest_s3
from pipeline.manifests import committed_manifests
from pipeline.publish import publish_dataset
from pipeline.report import DatasetReport, input_error
from pipeline.scratch import scratch

__all__ = ["DatasetReport", "committed_manifests", "ingest_dataset", "lake_for"]


def lake_for(settings: Settings) -> Lake:
    return Lake(root=settings.lake_uri, storage_options=settings.lake_storage_options())


def ingest_dataset(
    settings: Settings,
    contract: Contract,
    sources: Sequence[SourceSpec],
    *,
    inputs: Sequence[str] | None = None,
    publish: bool = True,
) -> DatasetReport:
    """Ingest what is pending for ``contract``'s dataset from ``sources``.

    Args:
        settings: run-time settings (lake location, catalog path).
        contract: the dataset's contract.
        sources: the source specs bound to this dataset.
        inputs: only these inputs, as a sensor requests them: dropped file paths for file-drop
            sources, batch ids for push sources; default: everything pending.
        publish: refresh the DuckDB catalog copies afterwards.
    """
    with scratch(settings.home):
        return _ingest_dataset(settings, contract, sources, inputs=inputs, publish=publish)


def _ingest_dataset(
    settings: Settings,
    contract: Contract,
    sources: Sequence[SourceSpec],
    *,
    inputs: Sequence[str] | None,
    publish: bool,
) -> DatasetReport:
    t0 = time.perf_counter()
    lake = lake_for(settings)
    report = DatasetReport(dataset=contract.name, contract_version=contract.version)
    _ensure_tables(contract, lake)
    for spec in sources:
        try:
            source = build_source(
                spec.kind, spec.as_config(), base_dir=settings.repo_root, state_dir=settings.state_dir
            )
        except ConnectorError as err:
            report.input_errors.append(input_error(spec.name, None, err))
            continue
        if spec.kind == "file_drop":
            ingest_drop_folder(source, contract, lake, report, files=inputs)
        elif spec.kind == "s3":
            ingest_s3(source, contract, lake, report, only=inputs)
        elif spec.kind == "http_pull":
            ingest_pull(source, contract, lake, report)
        elif spec.kind == "http_push":
            ingest_push(source, contract, lake, report, only=inputs)
        else:
            ingest_discovered(source, contract, lake, report)
    opts = lake.options()
    report.bronze = table_facts(lake.table_uri("bronze", contract.name), storage_options=opts)
    report.quarantine = table_facts(lake.table_uri("quarantine", contract.name), storage_options=opts)
    if publish:
        report.catalog = publish_dataset(settings.catalog_path, lake, contract)
    report.wall_s = time.perf_counter() - t0
    return report


def _ensure_tables(contract: Contract, lake: Lake) -> None:
    """Create the dataset's (empty) tables before any data arrives: the catalog and the checks
    always find them, and an empty table honestly says "no data yet"."""
    from contracts.enforce import bronze_schema, quarantine_schema

    opts = lake.options()
    for layer, schema in (("bronze", bronze_schema(contract)), ("quarantine", quarantine_schema(contract))):
        ensure_table(lake.table_uri(layer, contract.name), schema, name=f"{layer}_{contract.name}",
                     storage_options=opts)
