"""Lineage answered from a real ledger: upstream, downstream, columns, runs; and the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from provenance.ledger import Ledger
from provenance.lineage import (
    ColumnInput,
    DatasetSpec,
    LineageIndex,
    SchemaField,
    asset_event,
    catalog_table_spec,
    to_ledger_entry,
)
from provenance.lineage.cli import main
from provenance.lineage.exceptions import UnknownDatasetError
from provenance.lineage.naming import DatasetRef, delta_table_dataset, duckdb_dataset
from provenance.lineage.validate import event_dict

T0 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
FILE = DatasetRef("file", "/landing/orders_2026-11-01.csv")
OTHER_FILE = DatasetRef("file", "/landing/orders_2026-11-02.csv")
DELTA = "/lake/bronze/orders"


def _emit(
    ledger: Ledger,
    kind: str,
    job: str,
    *,
    run_id: str | None = None,
    at: int = 0,
    inputs: list[DatasetSpec] | None = None,
    outputs: list[DatasetSpec] | None = None,
    error: str | None = None,
) -> str:
    from provenance.lineage import RunContext

    run = RunContext(run_id=run_id or str(uuid.uuid4()))
    event = asset_event(
        kind,
        job_name=job,
        run=run,
        inputs=inputs or [],
        outputs=outputs or [],
        error=error,
        event_time=T0 + timedelta(minutes=at),
    )
    ledger.append(to_ledger_entry(event))
    return run.run_id


def _copy(
    ref: DatasetRef, source: DatasetRef, *columns: str, rows: int | None = None
) -> DatasetSpec:
    return DatasetSpec(
        ref,
        fields=[SchemaField(c) for c in columns],
        row_count=rows,
        column_lineage={c: [ColumnInput(source, c, "DIRECT", "IDENTITY")] for c in columns},
    )


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    """ingest (two runs, one failed) -> Delta bronze; catalog copy (symlink); a mart; noise."""
    path = tmp_path / "ledger"
    delta = delta_table_dataset(DELTA)
    catalog = tmp_path / "catalog.duckdb"
    mart = duckdb_dataset(catalog, "marts", "revenue")
    with Ledger.open(path) as ledger:
        run = _emit(ledger, "START", "ingest.orders", at=0)
        _emit(
            ledger,
            "COMPLETE",
            "ingest.orders",
            run_id=run,
            at=1,
            inputs=[DatasetSpec(FILE, row_count=10)],
            outputs=[_copy(delta, FILE, "order_id", "amount", rows=9)],
        )
        ledger.append(b"not json at all")  # other kinds of entries are skipped
        ledger.append(b'{"kind": "policy.decision", "allow": true}')
        _emit(
            ledger,
            "FAIL",
            "ingest.orders",
            at=10,
            inputs=[DatasetSpec(OTHER_FILE)],
            outputs=[_copy(delta, OTHER_FILE, "order_id", "amount")],
            error="boom",
        )
        bronze = catalog_table_spec(catalog, "bronze", "orders", delta_uri=DELTA)
        stg = duckdb_dataset(catalog, "staging", "orders")
        _emit(
            ledger,
            "COMPLETE",
            "dbt.staging.orders",
            at=20,
            inputs=[bronze],
            outputs=[
                DatasetSpec(
                    stg,
                    column_lineage={
                        "amount_eur": [
                            ColumnInput(bronze.ref, "amount", "DIRECT", "TRANSFORMATION")
                        ],
                        "is_paid": [ColumnInput(bronze.ref, "status", "DIRECT", "TRANSFORMATION")],
                    },
                )
            ],
        )
        _emit(
            ledger,
            "COMPLETE",
            "dbt.marts.revenue",
            at=30,
            inputs=[DatasetSpec(stg)],
            outputs=[
                DatasetSpec(
                    mart,
                    row_count=3,
                    column_lineage={
                        "revenue": [
                            ColumnInput(stg, "amount_eur", "DIRECT", "AGGREGATION"),
                            ColumnInput(stg, "is_paid", "INDIRECT", "FILTER"),
                        ],
                    },
                )
            ],
        )
    return path


def test_upstream_follows_symlinks_from_the_catalog_copy_into_the_ingest_and_its_files(
    ledger_dir: Path,
) -> None:
    index = LineageIndex.from_ledger(ledger_dir)
    mart = duckdb_dataset(ledger_dir.parent / "catalog.duckdb", "marts", "revenue")
    answer = index.upstream(mart)
    by_name = {d["name"]: d for d in answer["datasets"]}
    assert set(by_name) == {"staging.orders", DELTA, FILE.name, OTHER_FILE.name}
    assert by_name[DELTA]["aliases"] == [
        {"namespace": f"duckdb://{ledger_dir.parent}/catalog.duckdb", "name": "bronze.orders"}
    ]
    assert by_name[FILE.name]["distance"] == 3
    assert {"from": FILE.uri, "to": "file://" + DELTA, "jobs": ["maestro/ingest.orders"]} in (
        answer["edges"]
    )
    assert {d["name"] for d in index.upstream(mart, depth=2)["datasets"]} == {
        "staging.orders",
        DELTA,
    }


def test_downstream_of_a_source_file_reaches_the_mart(ledger_dir: Path) -> None:
    answer = LineageIndex.from_ledger(ledger_dir).downstream(FILE)
    assert [d["name"] for d in answer["datasets"]] == [DELTA, "staging.orders", "marts.revenue"]
    assert [d["distance"] for d in answer["datasets"]] == [1, 2, 3]


def test_column_lineage_is_traced_to_the_source_columns(ledger_dir: Path) -> None:
    index = LineageIndex.from_ledger(ledger_dir)
    mart = duckdb_dataset(ledger_dir.parent / "catalog.duckdb", "marts", "revenue")
    answer = index.columns(mart, "revenue")
    assert {(s["name"], s["field"]) for s in answer["sources"]} == {
        (FILE.name, "amount"),
        (OTHER_FILE.name, "amount"),
        (DELTA, "status"),
    }
    first = [u for u in answer["upstream"] if u["distance"] == 1]
    assert {(u["field"], u["type"], u["subtype"]) for u in first} == {
        ("amount_eur", "DIRECT", "AGGREGATION"),
        ("is_paid", "INDIRECT", "FILTER"),
    }
    direct = index.columns(mart, "revenue", direct_only=True)
    assert {(s["name"], s["field"]) for s in direct["sources"]} == {
        (FILE.name, "amount"),
        (OTHER_FILE.name, "amount"),
    }


def test_runs_of_a_dataset_are_listed_newest_first_with_state_counts_and_ledger_indexes(
    ledger_dir: Path,
) -> None:
    answer = LineageIndex.from_ledger(ledger_dir).runs(delta_table_dataset(DELTA))
    assert answer["total"] == 3
    staging, failed, ingest = answer["runs"]
    assert (staging["job"], staging["roles"]) == ("maestro/dbt.staging.orders", ["input"])
    assert (failed["state"], failed["endTime"]) == (
        "FAIL",
        (T0 + timedelta(minutes=10)).isoformat(),
    )
    assert ingest["state"] == "COMPLETE" and ingest["rowCount"] == 9
    assert [e["index"] for e in ingest["events"]] == [0, 1]
    assert ingest["startTime"] == T0.isoformat()


def test_an_unknown_dataset_is_an_error_that_says_what_to_check(ledger_dir: Path) -> None:
    with pytest.raises(UnknownDatasetError, match="not in any lineage event"):
        LineageIndex.from_ledger(ledger_dir).upstream(DatasetRef("file", "/nowhere"))


def test_refresh_reads_only_new_entries(ledger_dir: Path) -> None:
    index = LineageIndex.from_ledger(ledger_dir)
    size = index.size
    assert index.refresh(ledger_dir) == 0
    with Ledger.open(ledger_dir) as ledger:
        _emit(
            ledger,
            "COMPLETE",
            "asset.report",
            inputs=[DatasetSpec(FILE)],
            outputs=[DatasetSpec(DatasetRef("file", "/reports/r.pdf"))],
        )
    assert index.refresh(ledger_dir) == 1 and index.size == size + 1
    assert "/reports/r.pdf" in {d["name"] for d in index.downstream(FILE)["datasets"]}


def test_job_events_add_static_lineage(ledger_dir: Path) -> None:
    index = LineageIndex.from_ledger(ledger_dir)
    job_event = {
        "eventTime": T0.isoformat(),
        "producer": "https://x",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "airflow", "name": "export"},
        "inputs": [{"namespace": "file", "name": "/reports/r.pdf"}],
        "outputs": [{"namespace": "s3://partner", "name": "drop/r.pdf"}],
    }
    index.add_event(job_event)
    assert "drop/r.pdf" in {
        d["name"] for d in index.downstream(DatasetRef("file", "/reports/r.pdf"))["datasets"]
    }


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else err


def test_the_cli_answers_in_json(ledger_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mart = duckdb_dataset(ledger_dir.parent / "catalog.duckdb", "marts", "revenue")
    code, answer = _cli(capsys, "upstream", str(ledger_dir), mart.uri, "--depth", "1")
    assert code == 0 and [d["name"] for d in answer["datasets"]] == ["staging.orders"]
    code, answer = _cli(
        capsys,
        "columns",
        str(ledger_dir),
        mart.name,
        "revenue",
        "--namespace",
        mart.namespace,
        "--direct-only",
    )
    assert code == 0 and {s["field"] for s in answer["sources"]} == {"amount"}
    code, answer = _cli(capsys, "runs", str(ledger_dir), "file://" + DELTA, "--limit", "1")
    assert code == 0 and len(answer["runs"]) == 1 and answer["total"] == 3
    code, answer = _cli(capsys, "downstream", str(ledger_dir), FILE.name)
    assert code == 0 and answer["datasets"][-1]["name"] == "marts.revenue"
    code, answer = _cli(capsys, "datasets", str(ledger_dir))
    assert code == 0 and len(answer["datasets"]) == 5


def test_the_cli_exit_codes_say_unknown_dataset_or_bad_usage(
    ledger_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(capsys, "upstream", str(ledger_dir), "/nowhere.csv")
    assert code == 1 and "not in any lineage event" in err
    code, err = _cli(capsys, "upstream", str(tmp_path / "nope"), "/x")
    assert code == 2 and "is not a ledger" in err
    code, err = _cli(capsys, "upstream", str(ledger_dir), "duckdb://catalog.duckdb")
    assert code == 2 and "duckdb://<db file path>" in err


def test_events_read_back_from_the_ledger_are_the_redacted_events(ledger_dir: Path) -> None:
    with Ledger.open(ledger_dir, read_only=True) as ledger:
        doc = json.loads(ledger.entry(1))
    assert doc["eventType"] == "COMPLETE" and doc["job"]["name"] == "ingest.orders"
    assert event_dict(doc) == doc
