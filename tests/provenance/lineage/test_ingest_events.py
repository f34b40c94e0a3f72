"""Ingest events built from a real ingest validate and say where every table's rows came from."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from lake.delta import table_facts
from pipeline.ingest import ingest_object
from provenance.facets import schema_path
from provenance.lineage import RunContext, ingest_event, validate_event
from provenance.lineage.common import OPENLINEAGE_CLIENT_VERSION, package_version
from provenance.lineage.validate import event_dict

from .lineage_helpers import Ingested, csv_source, dagster_run


def _event(ingested: Ingested, kind: str = "COMPLETE", **kw: Any) -> dict[str, Any]:
    event = ingest_event(
        kind,
        run=kw.pop("run", dagster_run("ingest.customers")),
        contract=ingested.contract,
        bronze_uri=ingested.bronze_uri,
        quarantine_uri=ingested.quarantine_uri,
        results=kw.pop("results", [ingested.result]),
        checks=kw.pop("checks", ingested.checks),
        **kw,
    )
    return event_dict(event)


def _output(doc: dict[str, Any], uri: str) -> dict[str, Any]:
    [out] = [o for o in doc["outputs"] if o["name"] == uri]
    return out


def test_complete_event_validates_against_the_official_schemas_and_each_facet_schema(
    ingested: Ingested, spec_dir: Path
) -> None:
    doc = _event(ingested)
    report = validate_event(doc, spec_dir=spec_dir)
    assert report.ok, report.errors
    assert report.mode == "full" and not report.unchecked
    facet_paths = {
        f"$.{side}[{i}].{group}.{key}"
        for side in ("inputs", "outputs")
        for i, ds in enumerate(doc[side])
        for group in ("facets", "inputFacets", "outputFacets")
        for key in ds.get(group, {})
    }
    facet_paths |= {f"$.run.facets.{k}" for k in doc["run"]["facets"]}
    facet_paths |= {f"$.job.facets.{k}" for k in doc["job"]["facets"]}
    assert set(report.checked) == facet_paths  # every facet checked against its own schema
    assert report.checked["$.outputs[0].facets.columnLineage"].endswith(
        "/ColumnLineageDatasetFacet.json"
    )


def test_custom_facets_validate_against_their_schema_files(
    ingested: Ingested, spec_dir: Path
) -> None:
    core = json.loads((spec_dir / "OpenLineage.json").read_text())
    doc = _event(ingested)
    custom = {
        key: facet
        for out in doc["outputs"]
        for key, facet in out["facets"].items()
        if key.startswith("maestro_")
    }
    assert set(custom) == {
        "maestro_contractVersion",
        "maestro_sourceManifest",
        "maestro_deltaTable",
    }
    for key, facet in custom.items():
        path = schema_path(facet["_schemaURL"])
        assert path is not None and path.name in facet["_schemaURL"]
        schema = json.loads(path.read_text())
        registry = Registry().with_resources(
            [
                (core["$id"], Resource.from_contents(core)),
                (schema["$id"], Resource.from_contents(schema)),
            ]
        )
        validator = Draft202012Validator(schema, registry=registry)
        assert not list(validator.iter_errors({key: facet})), key
        broken = {**facet, "_schemaURL": facet["_schemaURL"]}
        broken.pop(next(iter(schema["$defs"][path.stem]["allOf"][1]["required"])))
        assert list(validator.iter_errors({key: broken})), f"{key} accepts a missing field"


def test_inputs_are_the_source_files_with_their_hash_schema_and_row_count(
    ingested: Ingested, repo_root: Path
) -> None:
    doc = _event(ingested)
    path = repo_root / "data" / "samples" / "customers.csv"
    [source] = doc["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(path))
    assert (
        source["facets"]["version"]["datasetVersion"]
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert source["facets"]["dataSource"] == {
        **source["facets"]["dataSource"],
        "name": "crm_customers_csv",
        "uri": path.as_uri(),
    }
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == (
        ingested.contract.column_names
    )
    assert source["inputFacets"]["inputStatistics"]["rowCount"] == ingested.result.counts.read
    assert source["inputFacets"]["inputStatistics"]["size"] == path.stat().st_size


def test_outputs_are_the_delta_tables_with_contract_schema_lineage_statistics_and_version(
    ingested: Ingested, repo_root: Path
) -> None:
    doc = _event(ingested)
    bronze = _output(doc, ingested.bronze_uri)
    facts = table_facts(ingested.bronze_uri)
    assert bronze["namespace"] == "file"
    names = [f["name"] for f in bronze["facets"]["schema"]["fields"]]
    assert names[: len(ingested.contract.columns)] == ingested.contract.column_names
    assert "_source_uri" in names and "_manifest_id" in names
    email = bronze["facets"]["columnLineage"]["fields"]["email"]["inputFields"]
    assert email == [
        {
            "namespace": "file",
            "name": str(repo_root / "data" / "samples" / "customers.csv"),
            "field": "email",
            "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
        }
    ]
    stats = bronze["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == ingested.result.counts.valid == facts["rows"]
    assert stats["size"] == facts["bytes"]  # the table's only data commit is this run's
    assert bronze["facets"]["version"]["datasetVersion"] == str(facts["version"])
    delta = bronze["facets"]["maestro_deltaTable"]
    assert delta["version"] == facts["version"] and delta["numRows"] == facts["rows"]
    assert delta["commits"] == [
        {
            "version": ingested.result.bronze.version,
            "appId": ingested.result.app_id,
            "committed": True,
            "rows": ingested.result.counts.valid,
            "bytes": facts["bytes"],
        }
    ]
    quarantine = _output(doc, ingested.quarantine_uri)
    assert quarantine["outputFacets"]["outputStatistics"]["rowCount"] == (
        ingested.result.counts.rejected
    )
    contract = bronze["facets"]["maestro_contractVersion"]
    assert (contract["name"], contract["version"]) == ("customers", "1.0.0")
    assert contract["piiColumns"] == ["email", "full_name"]
    [manifest] = bronze["facets"]["maestro_sourceManifest"]["manifests"]
    assert manifest["id"] == ingested.result.manifest.id and manifest["status"] == "committed"
    assert manifest["objects"][0]["sha256"] == ingested.result.manifest.objects[0].sha256


def test_contract_checks_become_data_quality_assertions_with_columns(ingested: Ingested) -> None:
    bronze = _output(_event(ingested), ingested.bronze_uri)
    assertions = bronze["facets"]["dataQualityAssertions"]["assertions"]
    by_name = {a["name"]: a for a in assertions}
    for outcome in ingested.checks:
        assert by_name[outcome.name]["success"] == outcome.passed
    assert by_name["required_columns_not_null:email"] == {
        "assertion": "not_null",
        "success": True,
        "column": "email",
        "severity": "error",
        "name": "required_columns_not_null:email",
    }
    assert by_name["primary_key_unique_per_input"]["column"] == "customer_id"
    assert by_name["constraints_hold:pattern:email"]["assertion"] == "pattern"
    assert (
        "dataQualityAssertions" not in _output(_event(ingested), ingested.quarantine_uri)["facets"]
    )


def test_start_and_complete_of_one_dagster_run_share_the_run_id_and_name_the_parent(
    ingested: Ingested, spec_dir: Path
) -> None:
    dagster_run_id = str(uuid.uuid4())
    nominal = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)

    def run() -> RunContext:
        return RunContext.for_dagster(
            dagster_run_id=dagster_run_id,
            dagster_job_name="nightly",
            job_name="ingest.customers",
            nominal_start=nominal,
        )

    start = _event(ingested, "START", run=run(), results=[], checks=[])
    complete = _event(ingested, run=run())
    assert validate_event(start, spec_dir=spec_dir).ok
    assert start["run"]["runId"] == complete["run"]["runId"] != dagster_run_id
    assert start["inputs"] == [] and all(
        "outputFacets" not in o or not o["outputFacets"] for o in start["outputs"]
    )
    assert "schema" in start["outputs"][0]["facets"]
    facets = complete["run"]["facets"]
    assert facets["parent"]["run"]["runId"] == dagster_run_id
    assert facets["parent"]["job"] == {"namespace": "dagster", "name": "nightly"}
    assert facets["nominalTime"]["nominalStartTime"] == "2026-11-02T03:00:00+00:00"
    engine = facets["processing_engine"]
    assert engine == {
        **engine,
        "name": "maestro-conductor",
        "version": package_version(),
        "openlineageAdapterVersion": OPENLINEAGE_CLIENT_VERSION,
    }
    job = complete["job"]
    assert (job["namespace"], job["name"]) == ("maestro", "ingest.customers")
    assert job["facets"]["jobType"] == {
        **job["facets"]["jobType"],
        "processingType": "BATCH",
        "integration": "MAESTRO",
        "jobType": "INGEST",
    }
    location = job["facets"].get("sourceCodeLocation")
    if location is not None:  # a git checkout: the commit and the file that does the work
        assert location["type"] == "git" and location["path"] == "pipeline/ingest.py"
        assert len(location["version"]) == 40


def test_fail_event_carries_the_error_and_validates(ingested: Ingested, spec_dir: Path) -> None:
    try:
        raise RuntimeError("lake unreachable")
    except RuntimeError as err:
        doc = _event(ingested, "FAIL", results=[], checks=[], error=err)
    assert validate_event(doc, spec_dir=spec_dir).ok
    error = doc["run"]["facets"]["errorMessage"]
    assert error["message"] == "RuntimeError: lake unreachable"
    assert error["programmingLanguage"] == "python" and "Traceback" in error["stackTrace"]


def test_reingesting_the_same_file_reports_no_new_rows_and_the_earlier_commit(
    ingested: Ingested, repo_root: Path, spec_dir: Path
) -> None:
    source = csv_source(
        "crm_customers_csv", "customers", [str(repo_root / "data" / "samples" / "customers.csv")]
    )
    again = ingest_object(source, source.discover()[0], ingested.contract, ingested.lake)
    assert again.status == "already_committed"
    doc = _event(ingested, results=[again])
    assert validate_event(doc, spec_dir=spec_dir).ok
    bronze = _output(doc, ingested.bronze_uri)
    assert bronze["outputFacets"]["outputStatistics"] == {
        **bronze["outputFacets"]["outputStatistics"],
        "rowCount": 0,
        "size": 0,
    }
    assert bronze["facets"]["maestro_deltaTable"]["commits"][0]["committed"] is False
    assert "inputStatistics" not in doc["inputs"][0].get("inputFacets", {})


def test_contract_source_names_map_source_columns_to_table_columns(
    ingested: Ingested, repo_root: Path, tmp_path: Path, spec_dir: Path
) -> None:
    text = (repo_root / "data" / "samples" / "customers.csv").read_text(encoding="utf-8")
    header, body = text.split("\n", 1)
    renamed = tmp_path / "crm_export.csv"
    renamed.write_text(header.replace("full_name", "Full Name") + "\n" + body, encoding="utf-8")
    contract = ingested.contract.model_copy(
        update={
            "columns": [
                c.model_copy(update={"source_name": "Full Name"}) if c.name == "full_name" else c
                for c in ingested.contract.columns
            ]
        }
    )
    source = csv_source("crm_renamed", "customers", [str(renamed)])
    result = ingest_object(source, source.discover()[0], contract, ingested.lake)
    assert result.status == "committed", result.error
    doc = event_dict(
        ingest_event(
            "COMPLETE",
            run=dagster_run("ingest.customers"),
            contract=contract,
            bronze_uri=ingested.bronze_uri,
            quarantine_uri=ingested.quarantine_uri,
            results=[result],
        )
    )
    assert validate_event(doc, spec_dir=spec_dir).ok
    fields = _output(doc, ingested.bronze_uri)["facets"]["columnLineage"]["fields"]
    assert [f["field"] for f in fields["full_name"]["inputFields"]] == ["Full Name"]
    assert "Full Name" in [f["name"] for f in doc["inputs"][0]["facets"]["schema"]["fields"]]


def test_an_input_rejected_whole_is_listed_without_schema_or_lineage(
    ingested: Ingested, tmp_path: Path, spec_dir: Path
) -> None:
    bad = tmp_path / "not_customers.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    source = csv_source("crm_customers_csv", "customers", [str(bad)])
    result = ingest_object(source, source.discover()[0], ingested.contract, ingested.lake)
    assert result.status == "failed"
    doc = _event(ingested, results=[result], checks=[])
    assert validate_event(doc, spec_dir=spec_dir).ok
    [source_ds] = doc["inputs"]
    assert source_ds["name"] == str(bad) and "schema" not in source_ds["facets"]
    bronze = _output(doc, ingested.bronze_uri)
    assert "columnLineage" not in bronze["facets"]
    assert bronze["facets"]["maestro_sourceManifest"]["manifests"][0]["status"] == "failed"


def test_events_carry_no_row_values(ingested: Ingested, sample_emails: list[str]) -> None:
    assert ingested.result.preview  # the ingest itself keeps a preview of rows ...
    text = json.dumps(_event(ingested))
    leaked = [e for e in sample_emails if e in text]
    assert not leaked  # ... which never reaches the event
    assert "Daan Bakker" not in text


@pytest.mark.parametrize("bad", ["not-a-uuid", ""])
def test_run_ids_must_be_uuids(bad: str) -> None:
    from provenance.lineage.exceptions import EventBuildError

    with pytest.raises(EventBuildError, match="not a UUID"):
        RunContext.for_dagster(dagster_run_id=bad, dagster_job_name="j", job_name="ingest.x")
