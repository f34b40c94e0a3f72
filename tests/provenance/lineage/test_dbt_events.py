"""dbt model events from a compiled project: valid, with column lineage that reaches the sources.

The fixture ingests the sample customers and orders into a tmp lake (pipeline.ingest), publishes
bronze and quarantine to a tmp DuckDB catalog (lake.catalog), snapshots the catalog and runs
``dbt compile`` in-process against it, with target and log paths in tmp. Events of the ingests
and of every model then go through the ledger transport into a real ledger, and the lineage
index answers from it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts.loader import load_contracts
from lake.delta import Lake
from pipeline.ingest import IngestResult, ingest_object
from pipeline.publish import publish_dataset
from provenance.lineage import (
    CatalogSnapshot,
    DbtProject,
    LedgerTransport,
    LedgerTransportConfig,
    LineageIndex,
    asset_event,
    catalog_table_spec,
    dbt_model_event,
    dbt_test_assertions,
    delta_table_spec,
    derived_table_spec,
    ingest_event,
    validate_event,
)
from provenance.lineage.naming import DatasetRef, delta_table_dataset, duckdb_dataset, file_dataset
from provenance.lineage.validate import event_dict

from .lineage_helpers import csv_source, dagster_run

pytestmark = pytest.mark.slow

NODES = [
    "fx_rates",
    "stg_bronze__customers",
    "stg_bronze__orders",
    "customer_revenue",
    "daily_revenue",
]


@dataclass(frozen=True)
class Compiled:
    lake: Lake
    catalog: Path
    project: DbtProject
    results: dict[str, list[IngestResult]]
    samples: Path


def _dbt(project: Path, work: Path, command: str) -> Any:
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        [
            command,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--no-send-anonymous-usage-stats",
            "--quiet",
        ]
    )


@pytest.fixture(scope="module")
def compiled(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    work = tmp_path_factory.mktemp("dbt")
    samples = repo_root / "data" / "samples"
    lake, catalog = Lake(root=str(work / "lake")), work / "catalog.duckdb"
    contracts = load_contracts()
    results: dict[str, list[IngestResult]] = {}
    for dataset, pattern in (("customers", "customers.csv"), ("orders", "orders/*.csv")):
        source = csv_source(f"{dataset}_csv", dataset, [str(samples / pattern)])
        results[dataset] = [
            ingest_object(source, obj, contracts[dataset], lake) for obj in source.discover()
        ]
        publish_dataset(catalog, lake, contracts[dataset])
    snapshot = CatalogSnapshot.read(catalog)  # before dbt opens the file
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAESTRO_CATALOG_PATH", str(catalog))
        result = _dbt(repo_root / "dbt_project", work, "compile")
    assert result.success, result.exception
    project = DbtProject.load(
        work / "target" / "manifest.json",
        project_dir=repo_root / "dbt_project",
        catalog_path=catalog,
        catalog=snapshot,
        contracts=contracts,
        lake=lake,
    )
    return Compiled(lake, catalog, project, results, samples)


def _model_event(compiled: Compiled, node: str, kind: str = "COMPLETE") -> dict[str, Any]:
    n = compiled.project.node(node)
    run = dagster_run(f"dbt.{n['schema']}.{n['name']}")
    return event_dict(dbt_model_event(kind, project=compiled.project, node=node, run=run))


@pytest.mark.parametrize("kind", ["START", "COMPLETE"])
@pytest.mark.parametrize("node", NODES)
def test_every_model_and_seed_event_validates(
    compiled: Compiled, spec_dir: Path, node: str, kind: str
) -> None:
    doc = _model_event(compiled, node, kind)
    report = validate_event(doc, spec_dir=spec_dir)
    assert report.ok, report.errors
    assert not report.unchecked
    assert doc["job"]["facets"]["jobType"]["jobType"] in ("DBT_MODEL", "DBT_SEED")


def test_the_mart_reads_the_staging_models_and_writes_its_catalog_table(compiled: Compiled) -> None:
    doc = _model_event(compiled, "customer_revenue")
    ns = f"duckdb://{compiled.catalog}"
    assert doc["job"]["name"] == "dbt.marts.customer_revenue"
    assert {(i["namespace"], i["name"]) for i in doc["inputs"]} == {
        (ns, "staging.stg_bronze__customers"),
        (ns, "staging.stg_bronze__orders"),
    }
    [out] = doc["outputs"]
    assert (out["namespace"], out["name"]) == (ns, "marts.customer_revenue")
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == [
        "customer_id",
        "segment",
        "country_code",
        "signed_up_on",
        "order_count",
        "paid_order_count",
        "revenue_eur",
        "first_ordered_at",
        "last_ordered_at",
    ]
    assert "select" in doc["job"]["facets"]["sql"]["query"].lower()
    assert doc["job"]["facets"]["sql"]["dialect"] == "duckdb"


def test_revenue_column_lineage_comes_from_the_compiled_sql(compiled: Compiled) -> None:
    [out] = _model_event(compiled, "customer_revenue")["outputs"]
    fields = out["facets"]["columnLineage"]["fields"]
    revenue = {
        (f["name"], f["field"]): f["transformations"][0]
        for f in fields["revenue_eur"]["inputFields"]
    }
    assert revenue == {
        ("staging.stg_bronze__orders", "amount_eur"): {"type": "DIRECT", "subtype": "AGGREGATION"},
        ("staging.stg_bronze__orders", "is_paid"): {"type": "INDIRECT", "subtype": "FILTER"},
    }
    [staged] = _model_event(compiled, "stg_bronze__orders")["outputs"]
    amount_eur = staged["facets"]["columnLineage"]["fields"]["amount_eur"]["inputFields"]
    assert {(f["name"], f["field"]) for f in amount_eur} == {
        ("current.orders", "amount"),
        ("seeds.fx_rates", "rate_to_eur"),
    }


def test_staging_reads_the_current_state_which_is_derived_from_bronze_not_a_copy_of_it(
    compiled: Compiled,
) -> None:
    doc = _model_event(compiled, "stg_bronze__orders")
    [current] = [i for i in doc["inputs"] if i["name"] == "current.orders"]
    assert "symlinks" not in current["facets"]
    assert {f["name"] for f in current["facets"]["schema"]["fields"]} >= {"order_id", "_ingested_at"}


def test_seeds_read_their_csv_file(compiled: Compiled, repo_root: Path) -> None:
    doc = _model_event(compiled, "fx_rates")
    seed_file = repo_root / "dbt_project" / "seeds" / "fx_rates.csv"
    assert [(i["namespace"], i["name"]) for i in doc["inputs"]] == [("file", str(seed_file))]
    fields = doc["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["rate_to_eur"]["inputFields"][0]["field"] == "rate_to_eur"


def test_without_a_catalog_snapshot_contracts_and_lake_give_the_same_lineage(
    compiled: Compiled,
) -> None:
    bare = DbtProject(
        compiled.project.manifest,
        project_dir=compiled.project.project_dir,
        catalog_path=compiled.catalog,
        contracts=load_contracts(),
        lake=compiled.lake,
    )
    doc = event_dict(
        dbt_model_event(
            "COMPLETE",
            project=bare,
            node="customer_revenue",
            run=dagster_run("dbt.marts.customer_revenue"),
        )
    )
    full = _model_event(compiled, "customer_revenue")
    assert (
        doc["outputs"][0]["facets"]["columnLineage"]
        == full["outputs"][0]["facets"]["columnLineage"]
    )
    stg = event_dict(
        dbt_model_event(
            "COMPLETE",
            project=bare,
            node="stg_bronze__orders",
            run=dagster_run("dbt.staging.stg_bronze__orders"),
        )
    )
    full_stg = _model_event(compiled, "stg_bronze__orders")

    def current_columns(doc: dict) -> list[str]:
        [current] = [i for i in doc["inputs"] if i["name"] == "current.orders"]
        return [f["name"] for f in current["facets"]["schema"]["fields"]]

    assert current_columns(stg) == current_columns(full_stg)  # from the contract, as built


def test_test_outcomes_of_a_model_become_assertions(compiled: Compiled) -> None:
    manifest = compiled.project.manifest
    tests = [
        uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "test"
        and n.get("attached_node") == "model.maestro.customer_revenue"
    ]
    assert tests
    failing = next(t for t in tests if manifest["nodes"][t]["name"].startswith("not_null"))
    run_results = {
        "results": [{"unique_id": t, "status": "fail" if t == failing else "pass"} for t in tests]
    }
    assertions = dbt_test_assertions(compiled.project, run_results, "customer_revenue")
    assert len(assertions) == len(tests)
    [bad] = [a for a in assertions if not a.success]
    assert (
        bad.assertion == "not_null"
        and bad.column
        and bad.name == manifest["nodes"][failing]["name"]
    )
    doc = event_dict(
        dbt_model_event(
            "COMPLETE",
            project=compiled.project,
            node="customer_revenue",
            run=dagster_run("dbt.marts.customer_revenue"),
            assertions=assertions,
            row_count=42,
        )
    )
    out = doc["outputs"][0]
    assert len(out["facets"]["dataQualityAssertions"]["assertions"]) == len(tests)
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 42


@pytest.fixture(scope="module")
def ledger_index(
    compiled: Compiled, tmp_path_factory: pytest.TempPathFactory, spec_dir: Path
) -> LineageIndex:
    """Ingest and dbt events of one Dagster run, emitted through the transport into a ledger."""
    ledger = tmp_path_factory.mktemp("ledger") / "ledger"
    transport = LedgerTransport(
        LedgerTransportConfig.from_dict({"ledger_dir": str(ledger), "spec_dir": str(spec_dir)})
    )
    dagster_run_id = str(uuid.uuid4())
    contracts = load_contracts()
    for dataset, results in compiled.results.items():
        run = dagster_run(f"ingest.{dataset}", dagster_run_id)
        for kind in ("START", "COMPLETE"):
            transport.emit(
                ingest_event(
                    kind,
                    run=run,
                    contract=contracts[dataset],
                    bronze_uri=compiled.lake.table_uri("bronze", dataset),
                    quarantine_uri=compiled.lake.table_uri("quarantine", dataset),
                    results=results if kind == "COMPLETE" else [],
                )
            )
    # The catalog asset records each bronze copy (a symlink of the Delta table) and each current
    # state, derived from the bronze Delta table.
    catalog_run = dagster_run("asset.catalog", dagster_run_id)
    published = [
        spec
        for ds in compiled.results
        for spec in (
            catalog_table_spec(compiled.catalog, "bronze", ds,
                               delta_uri=compiled.lake.table_uri("bronze", ds)),
            derived_table_spec(compiled.catalog, "current", ds, columns=contracts[ds].column_names,
                               from_delta_uri=compiled.lake.table_uri("bronze", ds)),
        )
    ]
    transport.emit(asset_event("COMPLETE", job_name="asset.catalog", run=catalog_run, outputs=published,
                               inputs=[delta_table_spec(compiled.lake.table_uri("bronze", ds))
                                       for ds in compiled.results]))
    for node in NODES:
        n = compiled.project.node(node)
        run = dagster_run(f"dbt.{n['schema']}.{n['name']}", dagster_run_id)
        for kind in ("START", "COMPLETE"):
            transport.emit(dbt_model_event(kind, project=compiled.project, node=node, run=run))
    assert transport.indexes == list(range(2 * (len(compiled.results) + len(NODES)) + 1))
    return LineageIndex.from_ledger(ledger)


def test_column_lineage_of_revenue_reaches_amount_through_staging_to_the_source_files(
    compiled: Compiled, ledger_index: LineageIndex
) -> None:
    mart = duckdb_dataset(compiled.catalog, "marts", "customer_revenue")
    answer = ledger_index.columns(mart, "revenue_eur")
    delta_orders = delta_table_dataset(compiled.lake.table_uri("bronze", "orders"))
    hops = {(u["name"], u["field"]) for u in answer["upstream"]}
    assert ("staging.stg_bronze__orders", "amount_eur") in hops
    assert (delta_orders.name, "amount") in hops  # bronze.orders in DuckDB is the Delta table
    order_files = sorted((compiled.samples / "orders").glob("*.csv"))
    sources = {(s["namespace"], s["name"], s["field"]) for s in answer["sources"]}
    assert {("file", str(f), "amount") for f in order_files} <= sources
    assert (
        "file",
        str(compiled.project.project_dir / "seeds" / "fx_rates.csv"),
        "rate_to_eur",
    ) in sources
    direct = ledger_index.columns(mart, "revenue_eur", direct_only=True)
    assert not any(s["field"] == "status" for s in direct["sources"])
    assert any(s["field"] == "status" for s in answer["sources"])  # is_paid <- status (filter)


def test_upstream_of_the_mart_reaches_the_bronze_tables_and_their_source_files(
    compiled: Compiled, ledger_index: LineageIndex
) -> None:
    mart = duckdb_dataset(compiled.catalog, "marts", "customer_revenue")
    answer = ledger_index.upstream(mart)
    found = {DatasetRef(d["namespace"], d["name"]) for d in answer["datasets"]}
    for dataset in ("customers", "orders"):
        assert delta_table_dataset(compiled.lake.table_uri("bronze", dataset)) in found
    assert file_dataset(compiled.samples / "customers.csv") in found
    assert {file_dataset(f) for f in (compiled.samples / "orders").glob("*.csv")} <= found
    [bronze] = [d for d in answer["datasets"] if d["name"].endswith("/bronze/orders")]
    assert {"namespace": f"duckdb://{compiled.catalog}", "name": "bronze.orders"} in bronze[
        "aliases"
    ]
    shallow = ledger_index.upstream(mart, depth=1)
    assert {d["name"] for d in shallow["datasets"]} == {
        "staging.stg_bronze__customers",
        "staging.stg_bronze__orders",
    }


def test_downstream_of_a_source_file_reaches_the_marts_and_runs_are_recorded(
    compiled: Compiled, ledger_index: LineageIndex
) -> None:
    first = sorted((compiled.samples / "orders").glob("*.csv"))[0]
    answer = ledger_index.downstream(file_dataset(first))
    names = {d["name"] for d in answer["datasets"]}
    assert {"marts.customer_revenue", "marts.daily_revenue"} <= names
    runs = ledger_index.runs(duckdb_dataset(compiled.catalog, "marts", "customer_revenue"))
    [run] = runs["runs"]
    assert run["job"] == "maestro/dbt.marts.customer_revenue" and run["state"] == "COMPLETE"
    assert [e["eventType"] for e in run["events"]] == ["START", "COMPLETE"]
    bronze_runs = ledger_index.runs(
        delta_table_dataset(compiled.lake.table_uri("bronze", "orders"))
    )
    ingest = next(r for r in bronze_runs["runs"] if r["job"] == "maestro/ingest.orders")
    assert ingest["rowCount"] == sum(r.counts.valid for r in compiled.results["orders"])
    assert set(ingest["roles"]) == {"output"}
    # The catalog read it to derive current.orders, which staging reads.
    assert any("input" in r["roles"] and r["job"] == "maestro/asset.catalog" for r in bronze_runs["runs"])
    assert json.dumps(runs)  # answers are JSON


def test_the_compiled_catalog_path_matches_the_profile(compiled: Compiled) -> None:
    node = compiled.project.node("customer_revenue")
    assert node["database"] == compiled.catalog.stem
    assert os.path.isabs(str(compiled.project.catalog_path))
