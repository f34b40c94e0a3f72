"""dbt models as Dagster assets (dagster-dbt), downstream of the bronze tables they select from.

Asset keys: sources map to ``bronze/<dataset>`` (the ingest assets, which publish ``bronze.<ds>``
and its current state ``current.<ds>``), models to
``<schema>/<model>`` (``staging/stg_bronze__orders``, ``marts/customer_revenue``), seeds to
``seeds/<name>``. dbt writes into the analysts' DuckDB catalog, so runs hold the catalog lock.

Each model and seed is one OpenLineage job: START before the build, then COMPLETE or FAIL from
dbt's run results, with column lineage from the compiled SQL; the ledger index of each model's
event goes into its materialization metadata.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from config.settings import Settings
from contracts.loader import load_contracts
from lake.catalog import catalog_lock
from orchestration.defs.dbt.project import DBT_PROJECT_DIR, dbt_env, ensure_manifest
from orchestration.defs.lineage.emit import transport
from orchestration.resources import MaestroResource
from pipeline.run import lake_for
from provenance.lineage import CatalogSnapshot, DbtProject, RunContext, dbt_model_event, dbt_test_assertions
from provenance.lineage.naming import dbt_job_name

BUILT = ("model", "seed")


class MaestroDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        rtype = dbt_resource_props["resource_type"]
        if rtype == "source":
            # A source names the asset that publishes it (meta.dagster.asset_key: the ingest asset
            # publishes both bronze.<ds> and its current state current.<ds>).
            meta = dbt_resource_props.get("meta") or dbt_resource_props.get("config", {}).get("meta") or {}
            key = (meta.get("dagster") or {}).get("asset_key")
            if key:
                return dg.AssetKey(list(key))
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if rtype == "seed":
            return dg.AssetKey(["seeds", dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


def _schema(node: Mapping[str, Any]) -> str:
    return str(node.get("config", {}).get("schema") or node.get("schema") or "main")


def build_dbt_assets(settings: Settings) -> dg.AssetsDefinition:
    manifest_path = ensure_manifest(settings)
    translator = MaestroDbtTranslator()

    @dbt_assets(manifest=manifest_path, dagster_dbt_translator=translator, name="dbt_models")
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, maestro: MaestroResource
    ) -> Iterator[Any]:
        run_settings = maestro.settings()
        os.environ.update(dbt_env(run_settings))
        lineage = transport(run_settings)
        project_kwargs = {
            "project_dir": DBT_PROJECT_DIR,
            "catalog_path": run_settings.catalog_path,
            "contracts": load_contracts(run_settings.contracts_dir),
            "lake": lake_for(run_settings),
        }
        with catalog_lock(run_settings.catalog_path):
            parsed = DbtProject.load(
                manifest_path, catalog=CatalogSnapshot.try_read(run_settings.catalog_path), **project_kwargs
            )
            selected = {
                uid: node
                for uid, node in parsed.manifest["nodes"].items()
                if node["resource_type"] in BUILT
                and translator.get_asset_key(node) in context.selected_asset_keys
            }
            runs = {
                uid: RunContext.for_dagster(
                    dagster_run_id=context.run_id,
                    dagster_job_name=context.job_name,
                    job_name=dbt_job_name(_schema(node), node["name"]),
                )
                for uid, node in selected.items()
            }
            for uid in selected:
                lineage.emit(dbt_model_event("START", project=parsed, node=uid, run=runs[uid]))
            # Each invocation gets its own target folder (dagster-dbt default): runs never collide.
            invocation = dbt.cli(["build"], context=context, raise_on_error=False)
            events = list(invocation.stream())
            built = DbtProject.load(
                Path(invocation.target_path) / "manifest.json",
                catalog=CatalogSnapshot.try_read(run_settings.catalog_path),
                **project_kwargs,
            )
            results = invocation.get_artifact("run_results.json")
        status = {r["unique_id"]: r for r in results.get("results", [])}
        indexes: dict[str, int] = {}
        for uid in selected:
            result = status.get(uid, {})
            ok = result.get("status") in ("success", "pass")
            indexes[uid] = lineage.emit(
                dbt_model_event(
                    "COMPLETE" if ok else "FAIL",
                    project=built,
                    node=uid,
                    run=runs[uid],
                    assertions=dbt_test_assertions(built, results, uid),
                    error=None
                    if ok
                    else (result.get("message") or f"dbt status {result.get('status', 'not run')}"),
                )
            )
        for event in events:
            uid = event.metadata.get("unique_id") if hasattr(event, "metadata") else None
            uid = getattr(uid, "text", uid)
            if isinstance(event, dg.Output) and uid in indexes:
                event = event.with_metadata({**event.metadata, "ledger_index": indexes[uid]})
            yield event
        if not invocation.is_successful():
            raise dg.Failure(description=f"dbt build failed: {invocation.get_error()}")

    return dbt_models


def dbt_resource() -> DbtCliResource:
    # The dbt executable of this interpreter's environment, so no PATH set-up is needed.
    exe = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(exe) if exe.exists() else "dbt",
    )
