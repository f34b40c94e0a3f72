"""Validation of real Delta bronze tables: failures name their contract rules, passes pass, evidence stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from connectors.csv import CsvSource, CsvSourceConfig
from contracts.enforce import bronze_schema
from contracts.loader import load_contracts
from contracts.model import Contract
from lake.delta import Lake
from pipeline.ingest import ingest_object
from quality import BronzeTableMissingError, QualityConfigError, validate_table

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

ORDER = {"order_id": "ORD-000001", "customer_id": 1, "ordered_at": T0, "amount": 10.0,
         "currency": "EUR", "status": "paid", "quantity": 1}
CUSTOMER = {"customer_id": 1, "email": "a@example.com", "full_name": "Ann Example", "country": "DE",
            "segment": "smb", "signup_date": T0.date(), "credit_limit": 100.0}


def _order(i: int, **changes: Any) -> dict[str, Any]:
    return {**ORDER, "order_id": f"ORD-{i:06d}", "customer_id": i,
            "ordered_at": T0 + timedelta(minutes=i), **changes}


def _customer(i: int, **changes: Any) -> dict[str, Any]:
    return {**CUSTOMER, "customer_id": i, "email": f"c{i}@example.com", **changes}


def _commit(uri: str, contract: Contract, rows: list[dict[str, Any]], *, manifest: str) -> int:
    """Append bronze-shaped rows straight to Delta, bypassing enforcement; return the version."""
    stamped = [{**r, "_manifest_id": manifest, "_source_uri": f"file:///landing/{manifest}.csv",
                "_source_row": n + 1, "_ingested_at": T0, "_contract_version": contract.version}
               for n, r in enumerate(rows)]
    write_deltalake(uri, pa.Table.from_pylist(stamped, schema=bronze_schema(contract)), mode="append")
    return DeltaTable(uri).version()


@pytest.fixture()
def orders() -> Contract:
    return load_contracts()["orders"]


@pytest.fixture()
def customers() -> Contract:
    return load_contracts()["customers"]


def _paths(tmp_path: Path, dataset: str) -> tuple[str, Path]:
    return str(tmp_path / "lake" / "bronze" / dataset), tmp_path / "lake" / "_quality" / dataset


def test_a_table_that_breaks_rules_fails_naming_each_failed_rule(tmp_path: Path, orders: Contract) -> None:
    uri, results = _paths(tmp_path, "orders")
    rows = [_order(i) for i in range(1, 8)]
    rows += [_order(8, amount=-5.0), _order(9, currency="XXX"), _order(3)]  # last: key 3 again
    _commit(uri, orders, rows, manifest="m1")

    result = validate_table(orders, uri, results_dir=results, mode="new_files", build_docs=False)

    assert result.success is False
    failed = {f.rule: f for f in result.error_failed}
    assert set(failed) == {"range:amount", "set:currency", "primary_key"}
    assert result.warn_failed == []
    assert failed["range:amount"].reason_codes == ["min:amount", "max:amount"]
    assert failed["range:amount"].unexpected_count == 1
    assert failed["set:currency"].expectation_type == "expect_column_values_to_be_in_set"
    assert failed["set:currency"].column == "currency"
    assert failed["primary_key"].kwargs["column_list"] == ["order_id", "_manifest_id"]

    stored = json.loads(Path(result.results_json_path).read_text())
    by_rule = {r["expectation_config"]["meta"]["rule"]: r for r in stored["results"]}
    assert by_rule["set:currency"]["expectation_config"]["meta"] == {
        "contract": "orders@1.0.0", "rule": "set:currency", "severity": "error",
        "reason_codes": ["allowed_values:currency"], "values_redacted": False}
    assert by_rule["set:currency"]["result"]["partial_unexpected_list"] == ["XXX"]
    # amount is confidential: the count is kept, the value is not.
    assert by_rule["range:amount"]["result"]["unexpected_count"] == 1
    assert "partial_unexpected_list" not in by_rule["range:amount"]["result"]
    assert stored["meta"]["maestro"]["mode"] == "new_files"


def test_the_same_key_in_two_inputs_is_history_not_a_duplicate(tmp_path: Path, orders: Contract) -> None:
    uri, results = _paths(tmp_path, "orders")
    _commit(uri, orders, [_order(1), _order(2)], manifest="m1")
    _commit(uri, orders, [_order(1, status="shipped"), _order(2, status="delivered")], manifest="m2")

    result = validate_table(orders, uri, results_dir=results, mode="full", build_docs=False)

    assert result.success, [f.rule for f in result.error_failed]
    assert result.statistics["rows_validated"] == 4


def test_warn_severity_failures_are_reported_without_failing_the_validation(
    tmp_path: Path, customers: Contract
) -> None:
    uri, results = _paths(tmp_path, "customers")
    _commit(uri, customers, [_customer(1), _customer(2, full_name="x" * 250)], manifest="m1")

    result = validate_table(customers, uri, results_dir=results, build_docs=False)

    assert result.success is True
    assert result.error_failed == []
    assert [(f.rule, f.severity, f.unexpected_count) for f in result.warn_failed] == [
        ("length:full_name", "warn", 1)]
    # GX's own verdict in the stored JSON still counts the failure.
    assert json.loads(Path(result.results_json_path).read_text())["success"] is False


def test_an_ingested_sample_passes_and_leaves_json_results_and_data_docs(
    tmp_path: Path, customers: Contract
) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    src = CsvSource(CsvSourceConfig.from_dict(
        {"name": "customers_test", "dataset": "customers", "paths": [str(SAMPLES / "customers.csv")],
         "options": {"null_values": ["", "NA"]}}))
    ingest = ingest_object(src, src.discover()[0], customers, lake)
    assert ingest.status == "committed"
    results = tmp_path / "lake" / "_quality" / "customers"

    result = validate_table(customers, lake.table_uri("bronze", "customers"), results_dir=results,
                            since_version=ingest.bronze.version - 1)

    assert result.success, [(f.rule, f.unexpected_count) for f in result.error_failed]
    assert result.warn_failed == []
    assert result.statistics["rows_validated"] == ingest.counts.valid
    assert result.statistics["evaluated_expectations"] == len(
        json.loads(Path(result.results_json_path).read_text())["results"])
    assert Path(result.results_json_path).parent == results
    index = Path(result.docs_path)
    assert index == tmp_path / "lake" / "_quality" / "docs" / "index.html"
    assert "customers.v1.0.0" in index.read_text()
    page = Path(result.docs_page_path)
    assert page.is_file() and page.is_relative_to(index.parent)
    assert "Succeeded" in page.read_text() and "customers.v1.0.0" in page.read_text()
    suite_pages = list((index.parent / "expectations").rglob("*.html"))
    assert len(suite_pages) == 1
    assert "rule <code>pattern:email</code>" in suite_pages[0].read_text()  # contract rules as notes


def test_new_files_mode_reads_only_the_commits_after_since_version(tmp_path: Path, orders: Contract) -> None:
    uri, results = _paths(tmp_path, "orders")
    bad = _commit(uri, orders, [_order(1, amount=-1.0), _order(2)], manifest="m1")
    good = _commit(uri, orders, [_order(3), _order(4), _order(5)], manifest="m2")

    newest = validate_table(orders, uri, results_dir=results, mode="new_files", build_docs=False)
    both = validate_table(orders, uri, results_dir=results, mode="new_files", since_version=bad - 1,
                          build_docs=False)
    full = validate_table(orders, uri, results_dir=results, mode="full", build_docs=False)

    assert newest.success and newest.statistics["rows_in_scope"] == 3
    assert newest.statistics["versions"] == [good, good]
    assert not both.success and both.statistics["rows_in_scope"] == 5
    assert not full.success and [f.rule for f in full.error_failed] == ["range:amount"]


def test_sample_mode_samples_row_rules_but_checks_keys_on_every_new_row(
    tmp_path: Path, orders: Contract
) -> None:
    uri, results = _paths(tmp_path, "orders")
    rows = [_order(i) for i in range(1, 2001)] + [_order(1234)]
    _commit(uri, orders, rows, manifest="m1")

    first = validate_table(orders, uri, results_dir=results, mode="sample", sample_rows=100,
                           build_docs=False)
    again = validate_table(orders, uri, results_dir=results, mode="sample", sample_rows=100,
                           build_docs=False)

    stats = first.statistics
    assert stats["sample_stride"] == 21 and 50 <= stats["rows_validated"] <= 160
    assert stats["rows_checked_for_uniqueness"] == 2001
    assert [f.rule for f in first.error_failed] == ["primary_key"]
    assert again.statistics["rows_validated"] == stats["rows_validated"]  # deterministic sample


def test_nothing_committed_since_the_given_version_validates_nothing_and_passes(
    tmp_path: Path, orders: Contract
) -> None:
    uri, results = _paths(tmp_path, "orders")
    version = _commit(uri, orders, [_order(1, amount=-1.0)], manifest="m1")

    result = validate_table(orders, uri, results_dir=results, since_version=version, build_docs=False)

    assert result.success
    assert result.statistics["rows_in_scope"] == 0 and result.statistics["files"] == 0


def test_pii_values_never_reach_the_results_or_the_data_docs(tmp_path: Path, customers: Contract) -> None:
    uri, results = _paths(tmp_path, "customers")
    _commit(uri, customers, [_customer(1, email="leaked.person-at-example"), _customer(2)],
            manifest="m1")

    result = validate_table(customers, uri, results_dir=results)

    assert [f.rule for f in result.error_failed] == ["pattern:email"]
    texts = [Path(result.results_json_path).read_text()]
    texts += [p.read_text() for p in (tmp_path / "lake" / "_quality").rglob("*.html")]
    texts += [p.read_text() for p in (tmp_path / "lake" / "_quality" / "gx").rglob("*.json")]
    assert len(texts) > 3
    assert not [t for t in texts if "leaked.person" in t]


def test_validating_a_missing_table_or_with_a_bad_mode_fails_clearly(
    tmp_path: Path, orders: Contract
) -> None:
    uri, results = _paths(tmp_path, "orders")
    with pytest.raises(BronzeTableMissingError, match="ingest the dataset"):
        validate_table(orders, uri, results_dir=results)
    _commit(uri, orders, [_order(1)], manifest="m1")
    with pytest.raises(QualityConfigError, match="mode 'everything'"):
        validate_table(orders, uri, results_dir=results, mode="everything")  # type: ignore[arg-type]


def test_a_contract_without_keys_is_sampled_without_a_key_pass(tmp_path: Path, orders: Contract) -> None:
    keyless = Contract.model_validate({**orders.model_dump(), "primary_key": []})
    uri, results = _paths(tmp_path, "orders")
    _commit(uri, keyless, [_order(i) for i in range(1, 301)], manifest="m1")

    result = validate_table(keyless, uri, results_dir=results, sample_rows=50, build_docs=False)

    assert result.success
    assert result.statistics["rows_validated"] < 300
    assert result.statistics["rows_checked_for_uniqueness"] == 0


def test_date_and_timestamp_ranges_are_checked_in_the_units_enforcement_uses(tmp_path: Path) -> None:
    # Contract bounds on dates are days, on timestamps microseconds, since 1970-01-01 UTC.
    contract = Contract.model_validate({
        "name": "events", "version": "1.0.0", "owner": "o@example.com", "description": "d",
        "columns": [
            {"name": "day", "type": "date", "nullable": False,
             "constraints": {"min": 19000, "max": 21000}},          # 2022-01-08 .. 2027-07-01
            {"name": "at", "type": "timestamp", "constraints": {"min": 1.6e15}},  # 2020-09-13
        ]})
    uri, results = _paths(tmp_path, "events")
    ok = {"day": T0.date(), "at": T0}
    _commit(uri, contract, [ok, {"day": T0.date().replace(year=2000), "at": T0.replace(year=2001)}],
            manifest="m1")
    _commit(uri, contract, [ok, {"day": T0.date().replace(year=9999, month=12, day=31), "at": None}],
            manifest="m2")

    first = validate_table(contract, uri, results_dir=results, mode="new_files", since_version=-1,
                           build_docs=False)
    newest = validate_table(contract, uri, results_dir=results, mode="new_files", build_docs=False)

    assert {(f.rule, f.unexpected_count) for f in first.error_failed} == {
        ("range:day", 2), ("range:at", 1)}
    assert [(f.rule, f.unexpected_count) for f in newest.error_failed] == [("range:day", 1)]


def test_above_full_key_rows_the_primary_key_runs_on_a_key_sample_that_keeps_duplicates_together(
    tmp_path: Path, orders: Contract
) -> None:
    uri, results = _paths(tmp_path, "orders")
    once = [_order(i) for i in range(1, 1501)]
    _commit(uri, orders, once + once, manifest="m1")  # every key twice in one input

    sampled = validate_table(orders, uri, results_dir=results, sample_rows=100, full_key_rows=1000,
                             build_docs=False)
    every = validate_table(orders, uri, results_dir=results, sample_rows=100, build_docs=False)

    stats = sampled.statistics
    assert stats["primary_key_sampled"] and stats["sample_stride"] == 30
    assert stats["rows_checked_for_uniqueness"] == stats["rows_validated"]
    assert stats["rows_validated"] % 2 == 0 and 40 <= stats["rows_validated"] <= 400  # whole pairs
    [pk] = sampled.error_failed
    assert (pk.rule, pk.unexpected_count) == ("primary_key", stats["rows_validated"])
    assert not every.statistics["primary_key_sampled"]
    assert every.statistics["rows_checked_for_uniqueness"] == 3000
    assert [(f.rule, f.unexpected_count) for f in every.error_failed] == [("primary_key", 3000)]


def test_unique_columns_stay_checked_on_every_new_row_when_the_key_is_sampled(
    tmp_path: Path, customers: Contract
) -> None:
    uri, results = _paths(tmp_path, "customers")
    rows = [_customer(i) for i in range(1, 3001)]
    rows[2998] = _customer(2999, email="c5@example.com")  # the e-mail of row 5 again
    _commit(uri, customers, rows, manifest="m1")

    result = validate_table(customers, uri, results_dir=results, sample_rows=100, full_key_rows=1000,
                            build_docs=False)

    assert result.statistics["primary_key_sampled"]
    assert [(f.rule, f.unexpected_count, f.element_count) for f in result.error_failed] == [
        ("unique:email", 2, 3000)]
