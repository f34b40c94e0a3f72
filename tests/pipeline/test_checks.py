"""The contract checks on the stored bronze table count every offending row, whatever the layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, WriterProperties, write_deltalake

from contracts.enforce import bronze_schema
from contracts.loader import load_contracts
from contracts.model import Contract
from pipeline import checks
from pipeline.checks import evaluate_checks

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ORDER = {"order_id": "ORD-000001", "customer_id": 1, "ordered_at": T0, "amount": 10.0,
         "currency": "EUR", "status": "paid", "quantity": 1}


@pytest.fixture()
def orders() -> Contract:
    return load_contracts()["orders"]


def _order(i: int, **changes: Any) -> dict[str, Any]:
    return {**ORDER, "order_id": f"ORD-{i:06d}", "customer_id": i, "ordered_at": T0 + timedelta(minutes=i),
            **changes}


def _commit(uri: str, contract: Contract, rows: list[dict[str, Any]], *, manifest: str,
            row_group: int | None = None, nullable: bool = False) -> None:
    """Append bronze-shaped rows straight to Delta (no enforcement), optionally in small row groups.

    ``nullable``: a writer that also ignored ``nullable: false`` (Delta would refuse the nulls).
    """
    stamped = [{"_manifest_id": manifest, **r, "_source_uri": f"file:///landing/{manifest}.csv",
                "_source_row": n + 1, "_ingested_at": T0, "_contract_version": contract.version}
               for n, r in enumerate(rows)]
    schema = bronze_schema(contract)
    if nullable:
        schema = pa.schema([f.with_nullable(True) for f in schema])
    props = WriterProperties(max_row_group_size=row_group) if row_group else None
    write_deltalake(uri, pa.Table.from_pylist(stamped, schema=schema), mode="append",
                    writer_properties=props)


def _outcomes(contract: Contract, uri: str) -> dict[str, Any]:
    return {o.name: o for o in evaluate_checks(contract, uri, now=T0)}


def test_rule_violations_and_nulls_hidden_in_one_row_group_of_many_are_all_counted(
    tmp_path: Path, orders: Contract
) -> None:
    # Parquet statistics let DuckDB skip row groups; the groups holding the bad rows must not be.
    uri = str(tmp_path / "bronze" / "orders")
    rows = [_order(i) for i in range(1, 1001)]
    rows[700] = _order(701, amount=-5.0)
    rows[701] = _order(702, amount=200000.0, quantity=0)
    rows[702] = _order(703, currency="XXX", order_id="BAD-1")
    rows[703] = _order(704, status=None)
    rows[950] = _order(951, status=None)
    _commit(uri, orders, rows, manifest="m1", row_group=100, nullable=True)
    files = [f.removeprefix("file://") for f in DeltaTable(uri).file_uris()]
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 10

    out = _outcomes(orders, uri)

    assert not out["constraints_hold"].passed
    violations = out["constraints_hold"].metadata["violations"]
    assert {k: v for k, v in violations.items() if v} == {
        "min:amount": 1, "max:amount": 1, "min:quantity": 1, "allowed_values:currency": 1,
        "pattern:order_id": 1}
    assert not out["required_columns_not_null"].passed
    nulls = out["required_columns_not_null"].metadata["null_counts"]
    assert {k: v for k, v in nulls.items() if v} == {"status": 2}
    assert out["schema_matches_contract"].passed and out["primary_key_unique_per_input"].passed


def test_a_clean_table_passes_every_table_check(tmp_path: Path, orders: Contract) -> None:
    uri = str(tmp_path / "bronze" / "orders")
    _commit(uri, orders, [_order(i) for i in range(1, 301)], manifest="m1", row_group=50)

    out = _outcomes(orders, uri)

    assert all(out[n].passed for n in ("schema_matches_contract", "required_columns_not_null",
                                       "constraints_hold", "primary_key_unique_per_input"))
    assert out["row_accounting"].metadata["table_rows"] == 300


@pytest.mark.parametrize("per_input_limit", [8, 1], ids=["input by input", "all inputs at once"])
def test_keys_repeated_within_an_input_fail_and_across_inputs_do_not(
    tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch, per_input_limit: int
) -> None:
    monkeypatch.setattr(checks, "PER_INPUT_KEY_QUERIES", per_input_limit)
    uri = str(tmp_path / "bronze" / "orders")
    _commit(uri, orders, [_order(i) for i in range(1, 101)], manifest="m1")
    _commit(uri, orders, [_order(i) for i in range(1, 101)], manifest="m2")  # a re-delivery: fine
    assert _outcomes(orders, uri)["primary_key_unique_per_input"].passed

    _commit(uri, orders, [_order(i) for i in (1, 2, 2, 3, 3, 3)], manifest="m3")
    check = _outcomes(orders, uri)["primary_key_unique_per_input"]

    assert not check.passed and check.metadata["duplicate_keys"] == 2


def test_duplicates_are_counted_per_input_when_one_file_holds_several_inputs(
    tmp_path: Path, orders: Contract
) -> None:
    uri = str(tmp_path / "bronze" / "orders")
    rows = [{**_order(i), "_manifest_id": "m1"} for i in (1, 2, 3)]
    rows += [{**_order(i), "_manifest_id": "m2"} for i in (1, 2, 3, 3)]  # 3 twice in m2 only
    _commit(uri, orders, rows, manifest="ignored")
    _commit(uri, orders, [_order(1), _order(1)], manifest="m3")

    check = _outcomes(orders, uri)["primary_key_unique_per_input"]

    assert not check.passed and check.metadata["duplicate_keys"] == 2


def test_a_missing_table_fails_every_check_naming_the_table(tmp_path: Path, orders: Contract) -> None:
    uri = str(tmp_path / "bronze" / "orders")

    out = evaluate_checks(orders, uri)

    assert out and not any(o.passed for o in out)
    assert all(uri in o.metadata["problem"] for o in out)


def test_date_and_timestamp_bounds_are_checked_as_dates_and_instants(tmp_path: Path) -> None:
    # Contract bounds are days / microseconds since 1970-01-01 UTC; they used to reach DuckDB as
    # cast('19723.0' as date), which failed every check run after a commit.
    contract = Contract.model_validate({
        "name": "events", "version": "1.0.0", "owner": "o@example.com", "description": "d",
        "columns": [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "day", "type": "date", "constraints": {"min": 19723, "max": 20088}},
            {"name": "at", "type": "timestamp",
             "constraints": {"min": 1_704_067_200_000_000, "max": 253_402_300_799_999_999}},
        ],
    })
    uri = str(tmp_path / "bronze" / "events")
    rows = [
        {"id": 1, "day": datetime(2024, 1, 1).date(), "at": datetime(2024, 1, 1, tzinfo=UTC)},
        {"id": 2, "day": datetime(2024, 12, 31).date(),
         "at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        {"id": 3, "day": datetime(2023, 12, 31).date(), "at": datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)},
        {"id": 4, "day": datetime(2025, 1, 1).date(), "at": datetime(2024, 1, 1, tzinfo=UTC)},
    ]
    _commit(uri, contract, rows, manifest="m1")
    violations = _outcomes(contract, uri)["constraints_hold"].metadata["violations"]
    assert violations == {"min:day": 1, "max:day": 1, "min:at": 1, "max:at": 0}
    assert checks._violation_sql(contract)["min:day"] == "\"day\" < date '2024-01-01'"
