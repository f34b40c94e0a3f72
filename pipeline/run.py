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

import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from config.settings import Settings
from config.sources import SourceSpec
from connectors.base import Source, SourceObject
from connectors.csv.reader import describe_file
from connectors.exceptions import ConnectorError, SourceUnavailableError
from connectors.factory import build_source
from contracts.model import Contract
from lake.catalog import publish_table
from lake.delta import Lake, ensure_table, open_table, table_facts
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

    @property
    def retryable_errors(self) -> list[dict[str, Any]]:
        """Errors of sources that could not be reached: the run should fail and be retried."""
        return [e for e in self.input_errors if e.get("retryable")]

    def total(self, attr: str, *, new_only: bool = True) -> int:
        return sum(
            getattr(r.counts, attr)
            for r in self.results
            if r.status == "committed" or (not new_only and r.status == "already_committed")
        )

    @property
    def new_inputs(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "committed"]


def _error(source: str, input_ref: str | None, err: Exception) -> dict[str, Any]:
    return {
        "source": source,
        "input": input_ref,
        "error": str(err),
        "retryable": isinstance(err, SourceUnavailableError),
    }


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
            report.input_errors.append(_error(spec.name, None, err))
            continue
        if spec.kind == "file_drop":
            _ingest_drop_folder(source, contract, lake, report, files=inputs)
        elif spec.kind == "s3":
            _ingest_s3(source, contract, lake, report, only=inputs)
        elif spec.kind == "http_pull":
            _ingest_pull(source, contract, lake, report)
        elif spec.kind == "http_push":
            _ingest_push(source, contract, lake, report, only=inputs)
        else:
            _ingest_discovered(source, contract, lake, report)
    opts = lake.options()
    report.bronze = table_facts(lake.table_uri("bronze", contract.name), storage_options=opts)
    report.quarantine = table_facts(lake.table_uri("quarantine", contract.name), storage_options=opts)
    if publish:
        for layer, facts in (("bronze", report.bronze), ("quarantine", report.quarantine)):
            if facts["exists"]:
                report.catalog.append(
                    publish_table(
                        settings.catalog_path,
                        layer,
                        contract.name,
                        lake.table_uri(layer, contract.name),
                        storage_options=opts,
                    )
                )
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


def _ingest_discovered(source: Source, contract: Contract, lake: Lake, report: DatasetReport) -> None:
    try:
        objects = source.discover()
    except ConnectorError as err:
        report.input_errors.append(_error(source.name, None, err))
        return
    for obj in objects:
        _ingest_one(source, obj, contract, lake, report)


def _ingest_one(
    source: Source, obj: SourceObject, contract: Contract, lake: Lake, report: DatasetReport
) -> IngestResult | None:
    try:
        result = ingest_object(source, obj, contract, lake)
    except ConnectorError as err:
        report.input_errors.append(_error(source.name, obj.uri, err))
        return None
    report.results.append(result)
    if result.status == "failed":
        report.input_errors.append({"source": source.name, "input": obj.uri, "error": result.error})
    return result


class _SpooledSource(Source):
    """An input already fetched to a local spool, read like any source (the spool is the input)."""

    def __init__(self, source: Source, read: Callable[[int], Iterator[pa.RecordBatch]]) -> None:
        super().__init__(name=source.name, dataset=source.dataset)
        self.kind = source.kind  # type: ignore[misc]
        self._read = read

    def discover(self) -> list[SourceObject]:
        raise NotImplementedError("a spool is read, not discovered")

    def read(self, obj: SourceObject, *, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        return self._read(batch_rows)


def committed_manifests(lake: Lake, dataset: str) -> list[dict[str, Any]]:
    """The manifests of every input committed to ``dataset`` (from its quarantine commits)."""
    dt = open_table(lake.table_uri("quarantine", dataset), storage_options=lake.options())
    if dt is None:
        return []
    out = []
    for info in dt.history():
        raw = info.get("maestro.manifest")
        if raw and info.get("maestro.counts"):
            out.append(json.loads(raw) if isinstance(raw, str) else raw)
    return out


def _ingest_s3(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, only: Sequence[str] | None
) -> None:
    """New or changed objects (by key and ETag, against what the lake records as committed)."""
    from connectors.s3.source import S3Source
    from connectors.s3.state import ingested_from_manifests

    assert isinstance(source, S3Source)
    source._ingested = ingested_from_manifests(committed_manifests(lake, contract.name))
    wanted = set(only or [])
    try:
        objects = source.discover()
    except ConnectorError as err:
        report.input_errors.append(_error(source.name, source.config.uri, err))
        return
    for obj in objects:
        if wanted and obj.uri not in wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="maestro-s3-") as spool:
            try:
                fetched = source.fetch(obj, spool)
            except ConnectorError as err:
                report.input_errors.append(_error(source.name, obj.uri, err))
                continue
            spooled = _SpooledSource(
                source, lambda n, o=obj, p=fetched.path: source.read_spool(o, p, batch_rows=n)
            )
            _ingest_one(spooled, fetched.manifest_object(obj), contract, lake, report)


def _ingest_pull(source: Source, contract: Contract, lake: Lake, report: DatasetReport) -> None:
    """Fetch, commit, and only then advance the source's incremental cursor."""
    from connectors.http_pull import HttpPullSource

    assert isinstance(source, HttpPullSource)
    try:
        pulled = source.fetch()
    except ConnectorError as err:
        report.input_errors.append(_error(source.name, source.config.url, err))
        return
    if pulled.records == 0:
        return  # nothing newer than the cursor
    from connectors.http_pull import read_spool

    spooled = _SpooledSource(source, lambda n: read_spool(pulled.spool_path, n, columns=list(pulled.columns)))
    result = _ingest_one(spooled, pulled.source_object(), contract, lake, report)
    if result is not None and result.status in ("committed", "already_committed"):
        if pulled.new_cursor is not None and source.cursor_store is not None:
            source.cursor_store.set(source.name, pulled.new_cursor)
        pulled.spool_path.unlink(missing_ok=True)


def _ingest_push(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, only: Sequence[str] | None
) -> None:
    """Ingest landed push batches; mark each processed or failed (moved, never deleted)."""
    from connectors.http_push.exceptions import LandingError
    from connectors.http_push.reader import PushSource

    assert isinstance(source, PushSource)
    wanted = set(only or [])
    for obj in source.discover():
        batch_id = source.batch_id(obj)
        if wanted and batch_id not in wanted:
            continue
        result = _ingest_one(source, obj, contract, lake, report)
        try:
            if result is not None and result.status in ("committed", "already_committed"):
                source.landing.mark_processed(contract.name, batch_id, details=result.summary())
            else:
                error = result.error if result is not None else report.input_errors[-1]["error"]
                source.landing.mark_failed(
                    contract.name,
                    batch_id,
                    error=error or "unknown error",
                    details={"contract_version": contract.version},
                )
        except LandingError as err:  # another run finished this batch first
            report.input_errors.append({"source": source.name, "input": batch_id, "error": str(err)})


def _ingest_drop_folder(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, files: Sequence[str] | None
) -> None:
    from connectors.file_drop import FileDropSource

    assert isinstance(source, FileDropSource)
    folder = source.folder
    folder.ensure()
    folder.recover_stale()
    candidates = [Path(f) for f in files] if files else [f.path for f in folder.complete_files()]
    for path in candidates:
        claimed = folder.claim(path)
        if claimed is None:
            continue  # another run claimed it first, or it was already processed
        read_obj = describe_file(str(claimed))
        # The manifest names the file where it will stay (its archive path), not the claim folder.
        dest = folder.archive_destination(claimed, sha256=read_obj.sha256)
        obj = replace(read_obj, uri=dest.resolve().as_uri())
        spooled = _SpooledSource(source, lambda n, o=read_obj: source.read(o, batch_rows=n))
        result = _ingest_one(spooled, obj, contract, lake, report)
        if result is not None and result.status in ("committed", "already_committed"):
            folder.archive_file(
                claimed,
                dest=dest,
                sha256=obj.sha256,
                record={
                    "manifest": result.manifest.to_dict(),
                    **result.summary(),
                    "original_name": path.name,
                },
            )
        else:
            error = result.error if result is not None else report.input_errors[-1]["error"]
            # The error names the file where it really ends up: the drop folder's quarantine.
            qpath = folder.quarantine_destination(claimed, sha256=obj.sha256)
            error = (error or "unknown error").replace(obj.uri, str(qpath)).replace(str(dest), str(qpath))
            for entry in report.input_errors:
                if entry["input"] == obj.uri:
                    entry["input"], entry["error"] = str(qpath), error
            if result is not None:
                result.error = error
            folder.quarantine_file(
                claimed,
                dest=qpath,
                sha256=obj.sha256,
                error=error,
                detail={
                    "dataset": contract.name,
                    "source": source.name,
                    "contract_version": contract.version,
                    "original_name": path.name,
                },
            )
