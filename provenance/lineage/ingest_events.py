"""The OpenLineage event of one dataset ingest (job ``ingest.<dataset>``).

Inputs are the source objects (``file``/``s3``/``https`` datasets; facets ``dataSource``,
``schema`` with the source's column names, ``version`` = content sha256, ``inputStatistics``).
Outputs are the bronze and quarantine Delta tables, named from their storage location, with
``schema`` (from the contract), ``columnLineage`` (source column -> table column, identity; the
contract's ``source_name`` mapping), ``outputStatistics`` (rows and bytes this run wrote),
``dataQualityAssertions`` (the contract checks, bronze only), ``version`` (the Delta version) and
the custom facets ``maestro_contractVersion``, ``maestro_sourceManifest`` (URIs + sha256) and
``maestro_deltaTable``. Previews, single-row error texts and quarantined values stay in the lake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import RunEvent

from provenance.lineage.common import EventKind, RunContext, job_facets, producer_uri, run_event
from provenance.lineage.datasets import Assertion, DatasetSpec, SchemaField, identity_lineage
from provenance.lineage.delta_facts import commit_stats
from provenance.lineage.facets import (
    CONTRACT_FACET,
    DELTA_FACET,
    MANIFEST_FACET,
    DeltaTableVersionDatasetFacet,
    SourceManifestDatasetFacet,
    contract_facet,
)
from provenance.lineage.naming import (
    DatasetRef,
    dataset_for_uri,
    delta_table_dataset,
    ingest_job_name,
    safe_uri,
)

if TYPE_CHECKING:
    from contracts.model import Contract
    from pipeline.checks import CheckOutcome
    from pipeline.ingest import IngestResult

__all__ = ["assertions_from_checks", "ingest_event"]

INGEST_CODE = "pipeline/ingest.py"
_TEXT_KINDS = {"csv", "file_drop"}
_METADATA_TYPES = {
    "_source_row": "int64",
    "_ingested_at": "timestamp",
    "_quarantined_at": "timestamp",
    "_reasons": "list<string>",
    "_raw": "binary",
    "_source_line": "int64",
}


def _contract_fields(contract: Contract, *, quarantine: bool) -> list[SchemaField]:
    from contracts.enforce import BRONZE_METADATA, QUARANTINE_METADATA

    fields = [
        SchemaField(
            c.name, "string" if quarantine else c.type, f"[{c.classification}] {c.description}"
        )
        for c in contract.columns
    ]
    meta = QUARANTINE_METADATA if quarantine else BRONZE_METADATA
    fields += [SchemaField(f.name, _METADATA_TYPES.get(f.name, "string")) for f in meta]
    return fields


def assertions_from_checks(
    outcomes: Sequence[CheckOutcome], *, contract: Contract | None = None
) -> list[Assertion]:
    """One assertion per contract check, plus one per column where the check has column detail.

    Column detail: ``required_columns_not_null`` -> ``not_null`` per column;
    ``constraints_hold`` -> one per rule (``min``, ``pattern`` ...) and column; the primary key
    check names its column when the key has one column. Only pass/fail enters the facet, never
    the check's metadata (counts and values stay in Dagster).
    """
    out: list[Assertion] = []
    for o in outcomes:
        out.append(
            Assertion(o.name, o.passed, severity=o.severity, name=o.name, description=o.description)
        )
        meta: Mapping[str, Any] = o.metadata or {}
        if o.name == "required_columns_not_null":
            for column, nulls in sorted((meta.get("null_counts") or {}).items()):
                out.append(
                    Assertion(
                        "not_null",
                        not nulls,
                        column=column,
                        severity=o.severity,
                        name=f"{o.name}:{column}",
                    )
                )
        elif o.name == "constraints_hold":
            for rule, count in sorted((meta.get("violations") or {}).items()):
                kind, _, column = rule.partition(":")
                out.append(
                    Assertion(
                        kind,
                        not count,
                        column=column or None,
                        severity=o.severity,
                        name=f"{o.name}:{rule}",
                    )
                )
        elif (
            o.name == "primary_key_unique_per_input" and contract and len(contract.primary_key) == 1
        ):
            out[-1] = Assertion(
                "unique",
                o.passed,
                column=contract.primary_key[0],
                severity=o.severity,
                name=o.name,
                description=o.description,
            )
    return out


def _manifest_entry(result: IngestResult) -> dict[str, Any]:
    m = result.manifest
    objects = []
    for o in m.objects:
        obj: dict[str, Any] = {"uri": safe_uri(o.uri), "size": o.size}
        if o.sha256:
            obj["sha256"] = o.sha256
        if o.etag:
            obj["etag"] = o.etag
        if o.version_id:
            obj["versionId"] = o.version_id
        objects.append(obj)
    return {
        "id": m.id,
        "source": m.source,
        "kind": m.kind,
        "status": result.status,
        "createdAt": m.created_at.isoformat(),
        "objects": objects,
    }


def _delta_facet(
    table_uri: str,
    layer: str,
    results: Sequence[IngestResult],
    options: Mapping[str, str] | None,
    producer: str,
    recovered: Mapping[str, Any] | None = None,
) -> tuple[DeltaTableVersionDatasetFacet | None, int, int]:
    """The table's Delta facet, and rows and bytes this run's commits added."""
    from lake.delta import table_facts

    try:
        facts = table_facts(table_uri, storage_options=options)
    except Exception:  # an unreadable table must not stop the event; the facet is omitted
        facts = {"exists": False}
    commits, rows, size = [], 0, 0
    for r in results:
        commit = r.bronze if layer == "bronze" else r.quarantine
        if commit is None:
            continue
        entry: dict[str, Any] = {
            "version": commit.version,
            "appId": r.app_id,
            "committed": commit.committed,
        }
        if commit.committed:
            stats = commit_stats(table_uri, commit.version, storage_options=options)
            written = r.counts.valid if layer == "bronze" else r.counts.rejected
            entry["rows"] = written
            rows += written
            if stats is not None:
                entry["bytes"] = stats.bytes
                size += stats.bytes
        commits.append(entry)
    for lost in (recovered or {}).get("commits", []):
        commits.append({"version": int(lost["version"]), "appId": lost["appId"], "committed": True,
                        "recovered": True})
    if not facts.get("exists"):
        return None, rows, size
    facet = DeltaTableVersionDatasetFacet(
        location=safe_uri(table_uri),
        version=int(facts["version"]),
        numFiles=facts["files"],
        sizeBytes=facts["bytes"],
        numRows=facts["rows"],
        commits=commits,
        recordedThrough=(recovered or {}).get("through"),
        producer=producer,
    )
    return facet, rows, size


def ingest_event(
    event_type: EventKind,
    *,
    run: RunContext,
    contract: Contract,
    bronze_uri: str,
    quarantine_uri: str,
    results: Sequence[IngestResult] = (),
    checks: Sequence[CheckOutcome] = (),
    storage_options: Mapping[str, str] | None = None,
    error: BaseException | str | None = None,
    event_time: datetime | None = None,
    repo_root: Path | None = None,
    recovered: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunEvent:
    """The event of one dataset ingest (job ``ingest.<dataset>``).

    Args:
        event_type: START (before ingesting; ``results`` usually empty), COMPLETE or FAIL.
        run: the run's identity (:meth:`RunContext.for_dagster`).
        contract: the dataset's contract.
        bronze_uri, quarantine_uri: the tables' locations (``Lake.table_uri``).
        results: every input's :class:`pipeline.ingest.IngestResult` of this run.
        checks: the contract checks evaluated on bronze after the run.
        storage_options: object-store options of an ``s3://`` lake.
        error: for FAIL, the exception (or message) that ended the run.
        event_time: default now (UTC).
        repo_root: the checkout for ``sourceCodeLocation`` (default: this repository).
        recovered: per layer, :func:`provenance.lineage.recovery.unrecorded_commits`' answer:
            commits of earlier runs this event records, and the table's new ``recordedThrough``.
    """
    producer = producer_uri()
    inputs: dict[DatasetRef, DatasetSpec] = {}
    for r in results:
        fields: list[SchemaField] = []
        if r.status != "failed":
            typ = "string" if r.kind in _TEXT_KINDS else None
            fields = [SchemaField(c.source, typ) for c in contract.columns]
        for obj in r.manifest.objects:
            ref = dataset_for_uri(obj.uri)
            read = r.status == "committed"
            inputs[ref] = DatasetSpec(
                ref,
                fields=fields,
                data_source=(r.source, safe_uri(obj.uri)),
                version=obj.sha256 or None,
                row_count=r.counts.read if read else None,
                size_bytes=obj.size if read else None,
                file_count=1 if read else None,
            )
    usable = [
        ref
        for r in results
        if r.status != "failed"
        for ref in (dataset_for_uri(o.uri) for o in r.manifest.objects)
    ]
    manifests = [_manifest_entry(r) for r in results]
    outputs = []
    for layer, uri in (("bronze", bronze_uri), ("quarantine", quarantine_uri)):
        spec = DatasetSpec(
            delta_table_dataset(uri),
            fields=_contract_fields(contract, quarantine=layer == "quarantine"),
            description=f"{layer.capitalize()} table of {contract.name}: {contract.description}",
            extra_facets={CONTRACT_FACET: contract_facet(contract, producer=producer)},
        )
        if usable:
            spec.column_lineage = identity_lineage(
                {c.name: c.source for c in contract.columns}, list(dict.fromkeys(usable))
            )
        if manifests:
            spec.extra_facets = {
                **spec.extra_facets,
                MANIFEST_FACET: SourceManifestDatasetFacet(manifests=manifests, producer=producer),
            }
        if event_type != "START":
            facet, rows, size = _delta_facet(
                uri, layer, results, storage_options, producer, (recovered or {}).get(layer)
            )
            if facet is not None:
                spec.extra_facets = {**spec.extra_facets, DELTA_FACET: facet}
                spec.version = str(facet.version)
            if event_type == "COMPLETE":
                spec.row_count, spec.size_bytes = rows, size
        if layer == "bronze" and checks:
            spec.assertions = assertions_from_checks(checks, contract=contract)
        outputs.append(spec)
    return run_event(
        event_type,
        job_name=ingest_job_name(contract.name),
        job_facet_map=job_facets(
            "INGEST",
            producer=producer,
            source_path=INGEST_CODE,
            repo_root=repo_root,
            description=f"Ingest {contract.name} under contract v{contract.version} into the lake.",
        ),
        run=run,
        inputs=list(inputs.values()),
        outputs=outputs,
        error=error,
        event_time=event_time,
        producer=producer,
    )
