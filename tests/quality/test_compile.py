"""A contract compiles to a GX suite that states its rules one for one, with rule meta and severity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.loader import load_contracts
from contracts.model import Contract
from quality import QualityConfigError, compile_suite, suite_name

META = ["_manifest_id", "_source_uri", "_source_row", "_ingested_at", "_contract_version"]

# (expectation type, column, the other kwargs, rule, severity), written out from
# contracts/datasets/orders.yaml rule by rule.
ORDERS: list[tuple[str, str | None, dict[str, Any], str, str]] = [
    ("expect_table_columns_to_match_set", None, {"column_set": [
        "order_id", "customer_id", "ordered_at", "amount", "currency", "status", "quantity", *META]},
     "columns", "error"),
    ("expect_column_values_to_be_of_type", "order_id", {"type_": "str"}, "type:order_id", "error"),
    ("expect_column_values_to_not_be_null", "order_id", {}, "not_null:order_id", "error"),
    ("expect_column_values_to_match_regex", "order_id", {"regex": "^ORD-[0-9]{6}$"},
     "pattern:order_id", "error"),
    ("expect_column_values_to_be_of_type", "customer_id", {"type_": "int64"}, "type:customer_id", "error"),
    ("expect_column_values_to_not_be_null", "customer_id", {}, "not_null:customer_id", "error"),
    ("expect_column_values_to_be_between", "customer_id", {"min_value": 1}, "range:customer_id", "error"),
    ("expect_column_values_to_be_of_type", "ordered_at", {"type_": "Timestamp"}, "type:ordered_at", "error"),
    ("expect_column_values_to_not_be_null", "ordered_at", {}, "not_null:ordered_at", "error"),
    ("expect_column_values_to_be_of_type", "amount", {"type_": "float64"}, "type:amount", "error"),
    ("expect_column_values_to_not_be_null", "amount", {}, "not_null:amount", "error"),
    ("expect_column_values_to_be_between", "amount", {"min_value": 0, "max_value": 100000},
     "range:amount", "error"),
    ("expect_column_values_to_be_of_type", "currency", {"type_": "str"}, "type:currency", "error"),
    ("expect_column_values_to_not_be_null", "currency", {}, "not_null:currency", "error"),
    ("expect_column_values_to_be_in_set", "currency", {"value_set": ["EUR", "GBP", "USD"]},
     "set:currency", "error"),
    ("expect_column_values_to_be_of_type", "status", {"type_": "str"}, "type:status", "error"),
    ("expect_column_values_to_not_be_null", "status", {}, "not_null:status", "error"),
    ("expect_column_values_to_be_in_set", "status", {"value_set": [
        "placed", "paid", "shipped", "delivered", "cancelled", "returned"]}, "set:status", "error"),
    ("expect_column_values_to_be_of_type", "quantity", {"type_": "int32"}, "type:quantity", "error"),
    ("expect_column_values_to_not_be_null", "quantity", {}, "not_null:quantity", "error"),
    ("expect_column_values_to_be_between", "quantity", {"min_value": 1, "max_value": 1000},
     "range:quantity", "error"),
    ("expect_compound_columns_to_be_unique", None,
     {"column_list": ["order_id", "_manifest_id"], "ignore_row_if": "never"}, "primary_key", "error"),
]

# The same for contracts/datasets/customers.yaml.
CUSTOMERS: list[tuple[str, str | None, dict[str, Any], str, str]] = [
    ("expect_table_columns_to_match_set", None, {"column_set": [
        "customer_id", "email", "full_name", "country", "segment", "signup_date", "credit_limit",
        *META]}, "columns", "error"),
    ("expect_column_values_to_be_of_type", "customer_id", {"type_": "int64"}, "type:customer_id", "error"),
    ("expect_column_values_to_not_be_null", "customer_id", {}, "not_null:customer_id", "error"),
    ("expect_column_values_to_be_between", "customer_id", {"min_value": 1}, "range:customer_id", "error"),
    ("expect_column_values_to_be_of_type", "email", {"type_": "str"}, "type:email", "error"),
    ("expect_column_values_to_not_be_null", "email", {}, "not_null:email", "error"),
    ("expect_column_values_to_match_regex", "email", {"regex": r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"},
     "pattern:email", "error"),
    ("expect_compound_columns_to_be_unique", None,
     {"column_list": ["email", "_manifest_id"], "ignore_row_if": "any_value_is_missing"},
     "unique:email", "error"),
    ("expect_column_values_to_be_of_type", "full_name", {"type_": "str"}, "type:full_name", "error"),
    ("expect_column_value_lengths_to_be_between", "full_name", {"max_value": 200},
     "length:full_name", "warn"),
    ("expect_column_values_to_be_of_type", "country", {"type_": "str"}, "type:country", "error"),
    ("expect_column_values_to_not_be_null", "country", {}, "not_null:country", "error"),
    ("expect_column_values_to_be_in_set", "country",
     {"value_set": ["DE", "FR", "GB", "IE", "NL", "ES", "IT", "US"]}, "set:country", "error"),
    ("expect_column_values_to_be_of_type", "segment", {"type_": "str"}, "type:segment", "error"),
    ("expect_column_values_to_not_be_null", "segment", {}, "not_null:segment", "error"),
    ("expect_column_values_to_be_in_set", "segment", {"value_set": ["consumer", "smb", "enterprise"]},
     "set:segment", "error"),
    ("expect_column_values_to_be_of_type", "signup_date", {"type_": "datetime64"},
     "type:signup_date", "error"),
    ("expect_column_values_to_not_be_null", "signup_date", {}, "not_null:signup_date", "error"),
    ("expect_column_values_to_be_of_type", "credit_limit", {"type_": "float64"},
     "type:credit_limit", "error"),
    ("expect_column_values_to_be_between", "credit_limit", {"min_value": 0, "max_value": 1000000},
     "range:credit_limit", "error"),
    ("expect_compound_columns_to_be_unique", None,
     {"column_list": ["customer_id", "_manifest_id"], "ignore_row_if": "never"}, "primary_key", "error"),
]


def _normal(rows: list[tuple[str, str | None, dict[str, Any], str, str]]) -> list[str]:
    return sorted(json.dumps([t, c, k, r, s], sort_keys=True) for t, c, k, r, s in rows)


def _compiled(contract: Contract) -> list[tuple[str, str | None, dict[str, Any], str, str]]:
    out = []
    for e in compile_suite(contract).expectations:
        kwargs = dict(e.configuration.kwargs)
        column = kwargs.pop("column", None)
        # 1 and 1.0 are the same bound; compare numbers as floats.
        kwargs = {k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                  for k, v in kwargs.items()}
        out.append((e.expectation_type, column, kwargs, e.meta["rule"], e.meta["severity"]))
    return out


def _floats(rows: list[tuple[str, str | None, dict[str, Any], str, str]]) -> list[tuple[Any, ...]]:
    return [(t, c, {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for k, v in kw.items()}, r, s) for t, c, kw, r, s in rows]


@pytest.mark.parametrize(("dataset", "expected"), [("orders", ORDERS), ("customers", CUSTOMERS)])
def test_a_shipped_contract_compiles_to_exactly_its_rules(dataset: str, expected: list) -> None:
    contract = load_contracts()[dataset]
    assert _normal(_compiled(contract)) == _normal(_floats(expected))


def test_the_suite_is_named_after_the_dataset_and_contract_version() -> None:
    contract = load_contracts()["orders"]
    suite = compile_suite(contract)
    assert suite.name == suite_name(contract) == "orders.v1.0.0"
    assert suite.meta["contract"] == "orders@1.0.0"


def test_every_expectation_names_its_contract_rule_and_quarantine_reason_codes() -> None:
    suite = compile_suite(load_contracts()["orders"])
    by_rule = {e.meta["rule"]: e.meta for e in suite.expectations}
    assert by_rule["pattern:order_id"] == {
        "contract": "orders@1.0.0", "rule": "pattern:order_id", "severity": "error",
        "reason_codes": ["pattern:order_id"], "values_redacted": False}
    assert by_rule["range:amount"]["reason_codes"] == ["min:amount", "max:amount"]
    assert by_rule["range:customer_id"]["reason_codes"] == ["min:customer_id"]
    assert by_rule["set:currency"]["reason_codes"] == ["allowed_values:currency"]
    assert by_rule["primary_key"]["reason_codes"] == ["duplicate_key"]
    # amount is classified confidential: its example values stay out of results.
    assert by_rule["range:amount"]["values_redacted"] is True
    assert {e.severity.value for e in suite.expectations} == {"critical"}


def _with_tags(contract: Contract, tags: dict[str, Any]) -> Contract:
    return Contract.model_validate({**contract.model_dump(), "tags": tags})


def test_contract_tags_override_severity_by_rule_kind_and_by_rule_id() -> None:
    base = load_contracts()["customers"]
    contract = _with_tags(base, {"quality_severity": {"length": "error", "set": "warn",
                                                      "set:country": "error"}})
    severity = {e.meta["rule"]: (e.meta["severity"], e.severity.value)
                for e in compile_suite(contract).expectations}
    assert severity["length:full_name"] == ("error", "critical")
    assert severity["set:segment"] == ("warn", "warning")
    assert severity["set:country"] == ("error", "critical")  # the rule id wins over its kind
    assert severity["pattern:email"] == ("error", "critical")


@pytest.mark.parametrize(("override", "named"), [
    ({"lenght": "warn"}, "unknown rule kind 'lenght'"),
    ({"set:nope": "warn"}, "'nope' is not a column"),
    ({"set": "fatal"}, "must be 'error' or 'warn'"),
    ("warn", "expected a mapping"),
])
def test_a_bad_severity_override_fails_naming_the_field(override: Any, named: str) -> None:
    contract = _with_tags(load_contracts()["customers"], {"quality_severity": override})
    with pytest.raises(QualityConfigError, match="tags.quality_severity") as err:
        compile_suite(contract)
    assert named in str(err.value)
