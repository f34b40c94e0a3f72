"""The Dagster definitions: the asset graph loads offline, and every asset materializes in-process."""

from __future__ import annotations

import json

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from config.settings import Settings
from contracts.loader import load_contracts
from lake.delta import table_facts
from orchestration.definitions import MAIN_JOB, build_definitions
from orchestration.demo import seed_drop_folders
from pipeline.run import lake_for
from provenance.ledger import Ledger
from provenance.lineage import EventValidator, LineageSettings
from sandbox.environment import demo_environment

EXPECTED_KEYS = {
    "bronze/customers",
    "bronze/orders",
    "quarantine/customers",
    "quarantine/orders",
    "bronze/payments",
    "bronze/products",
    "bronze/shipments",
    "staging/stg_bronze__customers",
    "staging/stg_bronze__orders",
    "marts/customer_revenue",
    "marts/daily_revenue",
    "seeds/fx_rates",
    "catalog/duckdb",
    "metrics/cost",
    "metrics/slo",
    "metrics/report",
    "provenance/ledger_checkpoint",
}


def test_the_asset_graph_loads_offline_with_checks_and_sensors(settings: Settings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys >= EXPECTED_KEYS
    # dbt staging models hang off the bronze assets.
    parents = graph.get(AssetKey(["staging", "stg_bronze__orders"])).parent_keys
    assert AssetKey(["bronze", "orders"]) in parents
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("bronze/orders", "row_accounting") in checks
    assert ("bronze/customers", "constraints_hold") in checks
    assert ("bronze/orders", "great_expectations") in checks
    assert defs.resolve_sensor_def("shop_orders_drop_sensor") is not None


@pytest.mark.slow
def test_every_asset_materializes_in_process_and_the_catalog_matches_the_lake(settings: Settings) -> None:
    seed_drop_folders(settings)
    defs = build_definitions(settings)
    # All five source kinds have data: S3, the catalogue API and a push are served on loopback.
    with demo_environment(settings, sorted(load_contracts())), DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(MAIN_JOB).execute_in_process(instance=instance)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized >= EXPECTED_KEYS
    gx = [c for c in result.get_asset_check_evaluations() if c.check_name == "great_expectations"]
    assert len(gx) == 5 and all(c.passed for c in gx)
    assert all("data_docs" in c.metadata for c in gx)
    failed_errors = [
        c for c in result.get_asset_check_evaluations() if not c.passed and c.severity.value == "ERROR"
    ]
    assert not failed_errors

    bronze_meta = next(
        e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["bronze", "orders"])
    )
    for field in (
        "rows_read",
        "rows_committed",
        "rows_quarantined",
        "duplicates_dropped",
        "delta_version",
        "source_files",
        "preview",
        "dagster/column_schema",
    ):
        assert field in bronze_meta, field
    read = bronze_meta["rows_read"].value
    assert read == (
        bronze_meta["rows_committed"].value
        + bronze_meta["rows_quarantined"].value
        + bronze_meta["duplicates_dropped"].value
    )

    # Every materialization left OpenLineage events in the ledger, each valid against the official
    # schemas (and every facet against its own), and the ledger verifies against its checkpoint.
    ls = LineageSettings.from_settings(settings)
    with Ledger.open(ls.ledger_dir, key_dir=ls.key_dir, read_only=True) as ledger:
        events = [json.loads(ledger.entry(i)) for i in range(ledger.size)]
        assert ledger.verify().ok
    validator = EventValidator(ls.spec_dir)
    for event in events:
        report = validator.validate(event)
        assert report.ok and not report.unchecked, report
    jobs = {e["job"]["name"] for e in events}
    assert {
        "ingest.orders",
        "ingest.shipments",
        "dbt.marts.customer_revenue",
        "asset.catalog",
        "asset.metrics.cost",
    } <= jobs
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    bronze_ledger = bronze_meta["ledger_index"].value
    assert events[bronze_ledger]["job"]["name"] == "ingest.orders"

    # Acceptance: the DuckDB file answers count(*) for every table, equal to the Delta tables.
    lake = lake_for(settings)
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        for layer in ("bronze", "quarantine"):
            for ds in ("customers", "orders", "payments", "products", "shipments"):
                n = con.execute(f"select count(*) from {layer}.{ds}").fetchone()[0]
                assert n == table_facts(lake.table_uri(layer, ds))["rows"]
                assert n > 0 or (layer, ds) == ("quarantine", "products")
        for mart in ("customer_revenue", "daily_revenue"):
            assert con.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0
    finally:
        con.close()
