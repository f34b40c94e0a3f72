"""OpenLineage events for dbt models and seeds, from ``manifest.json`` and the compiled SQL.

Datasets are DuckDB catalog tables (``duckdb://<catalog file>`` + ``schema.table``). A model's
inputs are its upstream sources, seeds and models; its output is its own relation, with
``schema`` and ``columnLineage`` derived from the compiled SQL (:mod:`.sql_lineage`), the model's
description, and test outcomes as ``dataQualityAssertions`` when given. A seed's input is its CSV
file in the dbt project.

How lineage reaches the lake: a source in schema ``bronze`` or ``quarantine`` is a copy of a Delta
table, so its input dataset carries a ``symlinks`` facet naming that Delta table (from the
catalog's ``_maestro.catalog_tables``, or ``lake.table_uri(schema, name)``). Lineage queries
treat symlinked names as one dataset, so "upstream of a mart" continues from the DuckDB source
into the ingest events of the Delta table and on to the source files; column lineage continues
the same way (the copy keeps column names). A source in schema ``current`` (the latest version per
key, derived from bronze) is no copy, so it has no symlink: the catalog asset's event records it
as an output derived from the bronze Delta table, column by column, which links it the same way.

Column names and types come from, in order: the catalog snapshot (what was built), the contracts
(bronze and quarantine sources), the SQL itself (upstream models are resolved recursively), and
the manifest's documented columns.

>>> # project = DbtProject.load(target / "manifest.json", project_dir=..., catalog_path=...)
>>> # event = dbt_model_event("COMPLETE", project=project, node="customer_revenue", run=run)
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import RunEvent

from provenance.lineage.catalog import CatalogSnapshot
from provenance.lineage.common import EventKind, RunContext, job_facets, producer_uri, run_event
from provenance.lineage.datasets import Assertion, ColumnInput, DatasetSpec, SchemaField
from provenance.lineage.exceptions import EventBuildError
from provenance.lineage.naming import (
    DatasetRef,
    dbt_job_name,
    delta_table_dataset,
    duckdb_dataset,
    file_dataset,
)
from provenance.lineage.settings import REPO_ROOT
from provenance.lineage.sql_lineage import QueryLineage, TableKey, query_lineage

if TYPE_CHECKING:
    from contracts.model import Contract
    from lake.delta import Lake

__all__ = ["DbtProject", "dbt_model_event", "dbt_test_assertions"]

_LAKE_SCHEMAS = ("bronze", "quarantine")
_CURRENT_SCHEMA = "current"


class DbtProject:
    """A parsed dbt project (its manifest) plus what lineage needs to resolve tables.

    Load once per dbt run; lineage of each model is computed once and cached.
    """

    def __init__(
        self,
        manifest: Mapping[str, Any],
        *,
        project_dir: str | os.PathLike[str],
        catalog_path: str | os.PathLike[str],
        catalog: CatalogSnapshot | None = None,
        contracts: Mapping[str, Contract] | None = None,
        lake: Lake | None = None,
    ) -> None:
        self.manifest = manifest
        self.project_dir = Path(project_dir).resolve()
        self.catalog_path = Path(os.path.abspath(catalog_path))
        self.catalog = catalog
        self.contracts = dict(contracts or {})
        self.lake = lake
        self._lineage: dict[str, QueryLineage] = {}

    @classmethod
    def load(cls, manifest_path: str | os.PathLike[str], **kwargs: Any) -> DbtProject:
        """Read ``target/manifest.json`` (after ``dbt parse``, ``compile`` or ``build``)."""
        path = Path(manifest_path)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise EventBuildError(
                f"cannot read dbt manifest {path}: {err}; run `dbt parse` first"
            ) from err
        return cls(manifest, **kwargs)

    # -- nodes -----------------------------------------------------------------------------

    def node(self, selector: str) -> dict[str, Any]:
        """A model/seed/source by unique id (``model.maestro.x``) or by model or seed name."""
        for group in ("nodes", "sources"):
            if selector in self.manifest.get(group, {}):
                return self.manifest[group][selector]
        matches = [
            n
            for n in self.manifest.get("nodes", {}).values()
            if n.get("name") == selector and n.get("resource_type") in ("model", "seed", "snapshot")
        ]
        if len(matches) != 1:
            raise EventBuildError(
                f"dbt node {selector!r} is {'ambiguous' if matches else 'not in the manifest'}; "
                "pass its unique id (model.<project>.<name>)"
            )
        return matches[0]

    def table_key(self, node: Mapping[str, Any]) -> TableKey:
        name = node.get("alias") or node.get("identifier") or node["name"]
        return TableKey.of(node["schema"], name)

    def dataset(self, node: Mapping[str, Any]) -> DatasetRef:
        key = self.table_key(node)
        return duckdb_dataset(self.catalog_path, key.schema, key.name)

    def compiled_sql(self, node: Mapping[str, Any]) -> str | None:
        """The compiled SQL of a model (from the manifest, or the compiled file)."""
        sql = node.get("compiled_code")
        if sql:
            return str(sql)
        path = node.get("compiled_path")
        if path and Path(path).is_file():
            return Path(path).read_text(encoding="utf-8")
        return None

    def delta_source(self, node: Mapping[str, Any]) -> str | None:
        """The Delta table a bronze/quarantine source was published from, when known."""
        key = self.table_key(node)
        if key.schema not in _LAKE_SCHEMAS:
            return None  # e.g. current.<ds>: derived from bronze (the catalog's event says so), not a copy
        if self.catalog is not None and key in self.catalog.delta:
            return self.catalog.delta[key][0]
        if self.lake is not None and key.schema in _LAKE_SCHEMAS:
            return self.lake.table_uri(key.schema, key.name)
        return None

    # -- columns ---------------------------------------------------------------------------

    def _seed_columns(self, node: Mapping[str, Any]) -> dict[str, str | None]:
        path = self.project_dir / node["original_file_path"]
        types = (node.get("config") or {}).get("column_types") or {}
        try:
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except OSError:
            header = list(node.get("columns") or {})
        return {c: types.get(c) for c in header}

    def _contract_columns(self, key: TableKey) -> dict[str, str | None] | None:
        contract = self.contracts.get(key.name)
        if contract is None or key.schema not in (*_LAKE_SCHEMAS, _CURRENT_SCHEMA):
            return None
        from contracts.enforce import bronze_schema, quarantine_schema

        # The current state keeps bronze's columns (one row per key).
        schema = quarantine_schema(contract) if key.schema == "quarantine" else bronze_schema(contract)
        return {f.name: None for f in schema}

    def columns(self, node: Mapping[str, Any]) -> dict[str, str | None]:
        """Column name -> type (None if unknown) of a node's relation."""
        key = self.table_key(node)
        built = self.catalog.columns.get(key) if self.catalog is not None else None
        documented = {
            name: (col.get("data_type") or None)
            for name, col in (node.get("columns") or {}).items()
        }
        if node.get("resource_type") in ("model", "snapshot"):
            ql = self.lineage(node)
            if ql.columns and ql.complete:
                types = {**ql.types, **{k: v for k, v in documented.items() if v}, **(built or {})}
                return {c: types.get(c) for c in ql.columns}
        if built:
            return dict(built)
        if node.get("resource_type") == "seed":
            return self._seed_columns(node)
        return self._contract_columns(key) or documented

    def lineage(self, node: Mapping[str, Any]) -> QueryLineage:
        """Column lineage of a model's compiled SQL against its upstream relations."""
        uid = node["unique_id"]
        if uid not in self._lineage:
            sql = self.compiled_sql(node)
            if sql is None:
                self._lineage[uid] = QueryLineage(complete=False, error="no compiled SQL")
            else:
                self._lineage[uid] = QueryLineage(complete=False)  # guards cycles
                tables = {}
                for parent in node.get("depends_on", {}).get("nodes", []):
                    up = self.node(parent)
                    tables[self.table_key(up)] = self.columns(up)
                self._lineage[uid] = query_lineage(sql, tables, database=node.get("database") or "")
        return self._lineage[uid]

    def upstream_refs(self, node: Mapping[str, Any]) -> dict[TableKey, DatasetRef]:
        return {
            self.table_key(self.node(p)): self.dataset(self.node(p))
            for p in node.get("depends_on", {}).get("nodes", [])
        }


def _fields(columns: Mapping[str, str | None], node: Mapping[str, Any]) -> list[SchemaField]:
    docs = node.get("columns") or {}
    return [
        SchemaField(name, typ, (docs.get(name) or {}).get("description") or None)
        for name, typ in columns.items()
    ]


def _input_spec(project: DbtProject, parent: Mapping[str, Any]) -> DatasetSpec:
    spec = DatasetSpec(project.dataset(parent), fields=_fields(project.columns(parent), parent))
    if parent.get("resource_type") == "source":
        delta = project.delta_source(parent)
        if delta is not None:
            spec.symlinks = [(delta_table_dataset(delta), "DELTA_TABLE")]
    return spec


def dbt_model_event(
    event_type: EventKind,
    *,
    project: DbtProject,
    node: str,
    run: RunContext,
    assertions: Sequence[Assertion] = (),
    row_count: int | None = None,
    error: BaseException | str | None = None,
    event_time: datetime | None = None,
    repo_root: Path | None = None,
) -> RunEvent:
    """The event of one dbt model or seed (job ``dbt.<schema>.<name>``).

    Args:
        event_type: START before the model builds, COMPLETE after, FAIL if it failed.
        project: the loaded project (:meth:`DbtProject.load`).
        node: the model's unique id or name.
        run: the run's identity (:meth:`RunContext.for_dagster` with the dbt asset's job name).
        assertions: outcomes of the model's tests (:func:`dbt_test_assertions`).
        row_count: rows in the built relation, when known (outputStatistics).
    """
    producer = producer_uri()
    n = project.node(node)
    kind = n.get("resource_type")
    if kind not in ("model", "seed", "snapshot"):
        raise EventBuildError(
            f"dbt node {n['unique_id']} is a {kind}; events are for models and seeds"
        )
    out_ref = project.dataset(n)
    columns = project.columns(n)
    output = DatasetSpec(
        out_ref,
        fields=_fields(columns, n),
        description=n.get("description") or None,
        assertions=list(assertions),
    )
    inputs: list[DatasetSpec]
    if kind == "seed":
        seed_file = file_dataset(project.project_dir / n["original_file_path"])
        inputs = [DatasetSpec(seed_file, fields=[SchemaField(c) for c in columns])]
        output.column_lineage = {
            c: [ColumnInput(seed_file, c, "DIRECT", "IDENTITY")] for c in columns
        }
        sql = None
    else:
        parents = [project.node(p) for p in n.get("depends_on", {}).get("nodes", [])]
        inputs = [_input_spec(project, p) for p in parents]
        refs = project.upstream_refs(n)
        ql = project.lineage(n)
        lineage = {
            col: [
                ColumnInput(refs[s.table], s.column, s.type, s.subtype)  # type: ignore[arg-type]
                for s in ql.lineage.get(col, [])
                if s.table in refs
            ]
            for col in ql.columns
        }
        output.column_lineage = {c: v for c, v in lineage.items() if v} or None
        sql = project.compiled_sql(n)
    if event_type == "COMPLETE" and row_count is not None:
        output.row_count = row_count
    source_path = project.project_dir / n["original_file_path"]
    return run_event(
        event_type,
        job_name=dbt_job_name(n["schema"], n["name"]),
        job_facet_map=job_facets(
            "DBT_SEED" if kind == "seed" else "DBT_MODEL",
            producer=producer,
            source_path=source_path,
            repo_root=repo_root or REPO_ROOT,
            description=n.get("description") or None,
            sql=sql,
        ),
        run=run,
        inputs=inputs,
        outputs=[output],
        error=error,
        event_time=event_time,
        producer=producer,
    )


def dbt_test_assertions(
    project: DbtProject, run_results: Mapping[str, Any], node: str
) -> list[Assertion]:
    """Outcomes of the tests attached to a model, from dbt's ``run_results.json``.

    A test passes when its status is ``pass``; ``warn``, ``fail`` and ``error`` are failures
    (``severity`` says whether it blocks). Skipped tests are left out.
    """
    target = project.node(node)["unique_id"]
    status = {r["unique_id"]: r.get("status") for r in run_results.get("results", [])}
    out: list[Assertion] = []
    for uid, n in sorted(project.manifest.get("nodes", {}).items()):
        if n.get("resource_type") != "test" or uid not in status:
            continue
        attached = n.get("attached_node") or next(
            iter(n.get("depends_on", {}).get("nodes", [])), None
        )
        if attached != target or status[uid] in ("skipped", None):
            continue
        meta = n.get("test_metadata") or {}
        severity = str((n.get("config") or {}).get("severity") or "error").lower()
        out.append(
            Assertion(
                assertion=meta.get("name") or "custom_sql",
                success=status[uid] == "pass",
                column=n.get("column_name") or None,
                severity=severity,
                name=n.get("name"),
                description=n.get("description") or None,
            )
        )
    return out
