"""Ingest everything pending for one dataset, from every source bound to it.

This is what the Dagster ingest asset (and the demo, and tests) call. For each source:

- ``csv``: every file matching the paths is ingested (already-committed content is a no-op);
- ``file_drop``: the requested files (or every complete file) are claimed atomically, ingested,
  and archived with their manifest — or, when unreadable or not fitting the contract, moved to the
  drop folder's quarantine with an error report beside them;
- the other kinds plug in through :mod:`connectors.factory` in the same way.

Afterwards the bronze and quarantine tables are published to the DuckDB catalog so analysts (and
dbt) see the new data at once. Failures of one input never stop the others; they are returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import Settings
from config.sources import SourceSpec
from connectors.base import Source, SourceObject
from connectors.csv.reader import describe_file
from connectors.exceptions import ConnectorError
from connectors.factory import build_source
from contracts.model import Contract
from lake.catalog import publish_table
from lake.delta import Lake, table_facts
from pipeline.ingest import IngestResult, ingest_object


@dataclass
class DatasetReport:
    """All inputs one run ingested for a dataset, plus the tables' state afterwards."""

    dataset: str
    contract_version: str
    results: list[IngestResult] = field(default_factory=list)
    input_errors: list[dict[str, Any]] = field(default_factory=list)
    bronze: dict[str, Any] = field(default_factory=dict)
    quarantine: dict[str, Any] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    def total(self, attr: str, *, new_only: bool = True) -> int:
        return sum(
            getattr(r.counts, attr)
            for r in self.results
            if r.status == "committed" or (not new_only and r.status == "already_committed")
        )

    @property
    def new_inputs(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "committed"]


def lake_for(settings: Settings) -> Lake:
    return Lake(root=settings.lake_uri, storage_options=settings.lake_storage_options())


def ingest_dataset(
    settings: Settings,
    contract: Contract,
    sources: Sequence[SourceSpec],
    *,
    files: Sequence[str] | None = None,
    publish: bool = True,
) -> DatasetReport:
    """Ingest what is pending for ``contract``'s dataset from ``sources``.

    Args:
        settings: run-time settings (lake location, catalog path).
        contract: the dataset's contract.
        sources: the source specs bound to this dataset.
        files: for file-drop sources, only these dropped files (as a sensor requests them);
            default: every complete file in the folder.
        publish: refresh the DuckDB catalog copies afterwards.
    """
    t0 = time.perf_counter()
    lake = lake_for(settings)
    report = DatasetReport(dataset=contract.name, contract_version=contract.version)
    for spec in sources:
        source = build_source(spec.kind, spec.as_config(), base_dir=settings.repo_root)
        if spec.kind == "file_drop":
            _ingest_drop_folder(source, contract, lake, report, files=files)
        else:
            _ingest_discovered(source, contract, lake, report)
    opts = lake.options()
    report.bronze = table_facts(lake.table_uri("bronze", contract.name), storage_options=opts)
    report.quarantine = table_facts(lake.table_uri("quarantine", contract.name), storage_options=opts)
    if publish:
        for layer, facts in (("bronze", report.bronze), ("quarantine", report.quarantine)):
            if facts["exists"]:
                report.catalog.append(
                    publish_table(settings.catalog_path, layer, contract.name,
                                  lake.table_uri(layer, contract.name), storage_options=opts)
                )
    report.wall_s = time.perf_counter() - t0
    return report


def _ingest_discovered(source: Source, contract: Contract, lake: Lake, report: DatasetReport) -> None:
    try:
        objects = source.discover()
    except ConnectorError as err:
        report.input_errors.append({"source": source.name, "input": None, "error": str(err)})
        return
    for obj in objects:
        _ingest_one(source, obj, contract, lake, report)


def _ingest_one(source: Source, obj: SourceObject, contract: Contract, lake: Lake,
                report: DatasetReport) -> IngestResult | None:
    try:
        result = ingest_object(source, obj, contract, lake)
    except ConnectorError as err:
        report.input_errors.append({"source": source.name, "input": obj.uri, "error": str(err)})
        return None
    report.results.append(result)
    if result.status == "failed":
        report.input_errors.append({"source": source.name, "input": obj.uri, "error": result.error})
    return result


def _ingest_drop_folder(source: Source, contract: Contract, lake: Lake, report: DatasetReport,
                        *, files: Sequence[str] | None) -> None:
    from connectors.file_drop import FileDropSource

    assert isinstance(source, FileDropSource)
    folder = source.folder
    folder.ensure()
    folder.recover_stale()
    if files:
        candidates = [Path(f) for f in files]
    else:
        candidates = [f.path for f in folder.complete_files()]
    for path in candidates:
        claimed = folder.claim(path)
        if claimed is None:
            continue  # another run claimed it first, or it was already processed
        obj = describe_file(str(claimed))
        result = _ingest_one(source, obj, contract, lake, report)
        if result is not None and result.status in ("committed", "already_committed"):
            folder.archive_file(claimed, sha256=obj.sha256,
                                record={"manifest": result.manifest.to_dict(), **result.summary(),
                                        "original_name": path.name})
        else:
            error = result.error if result is not None else report.input_errors[-1]["error"]
            folder.quarantine_file(claimed, sha256=obj.sha256, error=error or "unknown error",
                                   detail={"dataset": contract.name, "source": source.name,
                                           "contract_version": contract.version})
