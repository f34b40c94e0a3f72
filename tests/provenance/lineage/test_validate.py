"""The validator checks events against the official schemas and every facet against its own."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from config.settings import Settings
from provenance.facets import SCHEMA_BASE_URL, schema_files, schema_path
from provenance.lineage import LineageSettings, asset_event, catalog_table_spec, validate_event
from provenance.lineage.exceptions import EventInvalidError
from provenance.lineage.facets import (
    ContractVersionDatasetFacet,
    DeltaTableVersionDatasetFacet,
    SourceManifestDatasetFacet,
)
from provenance.lineage.validate import VENDORED_CORE, EventValidator, event_dict

from .lineage_helpers import dagster_run


@pytest.fixture
def event(tmp_path: Path) -> dict[str, Any]:
    """A valid event with a schema, a symlink and lineage on its output."""
    from provenance.lineage import SchemaField

    out = catalog_table_spec(
        tmp_path / "catalog.duckdb",
        "bronze",
        "orders",
        delta_uri=str(tmp_path / "lake" / "bronze" / "orders"),
        delta_version=3,
        fields=[SchemaField("order_id", "VARCHAR")],
    )
    return event_dict(
        asset_event(
            "COMPLETE", job_name="asset.catalog", run=dagster_run("asset.catalog"), outputs=[out]
        )
    )


def test_a_built_event_is_valid(event: dict[str, Any], spec_dir: Path) -> None:
    report = validate_event(event, spec_dir=spec_dir)
    assert report.ok and report.mode == "full", report.errors
    assert "$.outputs[0].facets.symlinks" in report.checked


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (lambda e: e["run"].update(runId="run-1"), "$.run.runId"),
        (lambda e: e.update(eventTime="2026-11-02 03:00"), "$.eventTime"),
        (lambda e: e.update(eventType="DONE"), "$.eventType"),
        (lambda e: e.pop("job"), "$"),
        (
            lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
            "$.outputs[0].facets.schema.fields[0]",
        ),
        (
            lambda e: e["outputs"][0]["facets"]["symlinks"]["identifiers"][0].pop("type"),
            "$.outputs[0].facets.symlinks.identifiers[0]",
        ),
        (
            lambda e: e["run"]["facets"]["parent"]["run"].update(runId="dagster-7"),
            "$.run.facets.parent.run.runId",
        ),
        (
            lambda e: e["outputs"][0]["facets"]["version"].pop("datasetVersion"),
            "$.outputs[0].facets.version",
        ),
    ],
    ids=[
        "run-id-not-uuid",
        "time-without-zone",
        "unknown-event-type",
        "no-job",
        "schema-field-without-name",
        "symlink-without-type",
        "parent-not-uuid",
        "empty-version",
    ],
)
def test_invalid_events_are_rejected_with_the_place_of_the_problem(
    event: dict[str, Any], spec_dir: Path, break_it: Any, where: str
) -> None:
    broken = copy.deepcopy(event)
    break_it(broken)
    report = validate_event(broken, spec_dir=spec_dir)
    assert not report.ok
    assert any(e.startswith(where) for e in report.errors), report.errors
    with pytest.raises(EventInvalidError) as info:
        EventValidator.for_spec_dir(spec_dir).check(broken)
    assert info.value.errors == report.errors


def _with_output_facet(event: dict[str, Any], key: str, facet: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(event)
    doc["outputs"][0]["facets"][key] = facet
    return doc


def test_maestro_facets_are_checked_against_their_own_schema(
    event: dict[str, Any], spec_dir: Path
) -> None:
    facet = event_dict(
        ContractVersionDatasetFacet(
            name="orders", version="1.0.0", sha256="0" * 64, producer="https://x"
        )
    )
    ok = validate_event(
        _with_output_facet(event, "maestro_contractVersion", facet), spec_dir=spec_dir
    )
    assert ok.ok and ok.checked["$.outputs[0].facets.maestro_contractVersion"].startswith(
        SCHEMA_BASE_URL
    )
    bad = validate_event(
        _with_output_facet(event, "maestro_contractVersion", {**facet, "sha256": "abc"}),
        spec_dir=spec_dir,
    )
    assert not bad.ok and "sha256" in bad.errors[0]
    unknown = {**facet, "_schemaURL": SCHEMA_BASE_URL + "NoSuchFacet.json#/$defs/NoSuchFacet"}
    report = validate_event(_with_output_facet(event, "maestro_x", unknown), spec_dir=spec_dir)
    assert not report.ok and "names no Maestro facet schema" in report.errors[0]


def test_facets_of_other_producers_are_checked_against_the_core_only(
    event: dict[str, Any], spec_dir: Path
) -> None:
    theirs = {
        "_producer": "https://airflow.apache.org",
        "_schemaURL": "https://x/y.json",
        "anything": [1, 2],
    }
    report = validate_event(_with_output_facet(event, "airflow_task", theirs), spec_dir=spec_dir)
    assert report.ok and report.unchecked == ["$.outputs[0].facets.airflow_task"]
    missing_producer = {k: v for k, v in theirs.items() if k != "_producer"}
    assert not validate_event(
        _with_output_facet(event, "airflow_task", missing_producer), spec_dir=spec_dir
    ).ok


def test_without_the_spec_folder_the_vendored_core_schema_still_validates(
    event: dict[str, Any], tmp_path: Path
) -> None:
    validator = EventValidator(tmp_path / "no-spec-here")
    assert validator.mode == "core-only"
    assert validator.validate(event).ok
    broken = copy.deepcopy(event)
    broken["run"]["runId"] = "not-a-uuid"
    assert not validator.validate(broken).ok


def test_the_vendored_core_schema_is_the_shared_one(spec_dir: Path) -> None:
    assert VENDORED_CORE.read_bytes() == (spec_dir / "OpenLineage.json").read_bytes()


def test_every_custom_facet_schema_is_a_valid_schema_named_by_its_url() -> None:
    files = schema_files()
    assert {p.stem for p in files} == {
        "ContractVersionDatasetFacet",
        "SourceManifestDatasetFacet",
        "DeltaTableVersionDatasetFacet",
    }
    for path in files:
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == SCHEMA_BASE_URL + path.name
        [key] = schema["properties"]
        assert key.startswith("maestro_")
    for cls in (
        ContractVersionDatasetFacet,
        SourceManifestDatasetFacet,
        DeltaTableVersionDatasetFacet,
    ):
        assert schema_path(cls._get_schema()) == next(p for p in files if p.stem == cls.__name__)


def test_lineage_settings_default_to_the_shared_spec_folder_beside_the_repository(
    tmp_path: Path, shared_dir: Path
) -> None:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path)})
    lineage = LineageSettings.from_settings(settings)
    assert lineage.spec_dir.resolve() == (shared_dir / "openlineage-spec").resolve()
    assert lineage.ledger_dir == tmp_path / "ledger"
    assert LineageSettings.from_settings(settings, spec_dir=tmp_path).spec_dir == tmp_path


def test_validation_accepts_openlineage_python_objects_and_dicts(spec_dir: Path) -> None:
    event = asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    assert validate_event(event, spec_dir=spec_dir).ok
    assert validate_event(event_dict(event), spec_dir=spec_dir).ok
    assert uuid.UUID(event.run.runId)
