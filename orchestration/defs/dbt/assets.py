"""dbt models as Dagster assets (dagster-dbt), downstream of the bronze tables they select from.

Asset keys: sources map to ``bronze/<dataset>`` (the ingest assets), models to
``<schema>/<model>`` (``staging/stg_bronze__orders``, ``marts/customer_revenue``), seeds to
``seeds/<name>``. dbt writes into the analysts' DuckDB catalog, so runs hold the catalog lock.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from config.settings import Settings
from lake.catalog import catalog_lock
from orchestration.defs.dbt.project import DBT_PROJECT_DIR, dbt_env, ensure_manifest
from orchestration.resources import MaestroResource


class MaestroDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        rtype = dbt_resource_props["resource_type"]
        if rtype == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if rtype == "seed":
            return dg.AssetKey(["seeds", dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


def build_dbt_assets(settings: Settings) -> dg.AssetsDefinition:
    manifest = ensure_manifest(settings)

    @dbt_assets(manifest=manifest, dagster_dbt_translator=MaestroDbtTranslator(), name="dbt_models")
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, maestro: MaestroResource
    ) -> Iterator[Any]:
        run_settings = maestro.settings()
        os.environ.update(dbt_env(run_settings))
        with catalog_lock(run_settings.catalog_path):
            # Each invocation gets its own target folder (dagster-dbt default): runs never collide.
            yield from dbt.cli(["build"], context=context).stream()

    return dbt_models


def dbt_resource() -> DbtCliResource:
    # The dbt executable of this interpreter's environment, so no PATH set-up is needed.
    exe = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(exe) if exe.exists() else "dbt",
    )
