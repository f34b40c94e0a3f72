"""Compile a data contract into a Great Expectations suite — the contract is the only source.

:func:`compile_suite` turns a :class:`~contracts.model.Contract` into a ``gx.ExpectationSuite``
named ``<dataset>.v<version>``. Nobody writes suites by hand: change the contract, and the suite
follows. Every expectation carries ``meta`` naming the contract and the rule it came from::

    {"contract": "orders@1.0.0", "rule": "pattern:order_id", "severity": "error",
     "reason_codes": ["pattern:order_id"]}

``reason_codes`` are the quarantine reason codes of :mod:`contracts.enforce` for the same rule, so a
failed expectation points at the enforcement rule that should have caught the row.

Rules, one expectation each (columns in contract order, then table-level rules):

=============  ===========================================================  ==================
rule           expectation                                                  from
=============  ===========================================================  ==================
columns        ExpectTableColumnsToMatchSet (exact; + metadata columns)     the column list
type:<c>       ExpectColumnValuesToBeOfType (pandas dtype, see PANDAS_TYPES) ``type``
not_null:<c>   ExpectColumnValuesToNotBeNull                                ``nullable: false``
range:<c>      ExpectColumnValuesToBeBetween (min and/or max, inclusive)     ``min``/``max``
set:<c>        ExpectColumnValuesToBeInSet                                  ``allowed_values``
pattern:<c>    ExpectColumnValuesToMatchRegex (search, like enforcement)     ``pattern``
length:<c>     ExpectColumnValueLengthsToBeBetween                          ``min/max_length``
unique:<c>     ExpectCompoundColumnsToBeUnique over (c, _manifest_id)       ``unique: true``
primary_key    ExpectCompoundColumnsToBeUnique over (pk..., _manifest_id)   ``primary_key``
=============  ===========================================================  ==================

**Uniqueness is per input.** Bronze keeps every version of a key across inputs (README,
"Duplicates"): the same ``order_id`` legitimately appears once per export that carries it, and the
dbt staging models pick the latest. Enforcement guarantees uniqueness *within one input* (one
manifest), so that is what the suite checks: the key columns plus ``_manifest_id`` must be unique.
This is correct whatever rows are validated (the newest commit, a range of commits or the whole
table), unlike "validate only the newest commit and check the key alone", which would give a false
failure as soon as a validation spans two inputs. ``unique: true`` columns follow the same rule
(enforcement checks them per input too) and ignore nulls (``ignore_row_if="any_value_is_missing"``).
A ``unique`` column that is the whole primary key gets only the ``primary_key`` expectation.

**Severity** decides what a failure means: ``error`` fails the validation (the asset check blocks
downstream), ``warn`` is reported but does not fail it. The default per rule kind is the table
:data:`SEVERITY_BY_RULE`; a contract overrides it through its free-form ``tags``::

    tags:
      quality_severity: {length: error, "set:status": warn}

Keys are a rule kind (applies to every column) or a full rule id (``kind:column``, or
``primary_key`` / ``columns``); a full rule id wins over its kind. The severity is also set on
GX's own ``Expectation.severity`` (``error`` -> critical, ``warn`` -> warning).

**Values of classified columns stay out of results.** Expectations on columns classified
``confidential``, ``pii`` or ``sensitive_pii`` carry ``meta.values_redacted: true``;
:mod:`quality.validate` strips the sample of unexpected values from their results (counts stay),
so no e-mail address or amount is copied into the JSON results or the Data Docs site. (GX's
per-expectation ``result_format`` cannot do this: the run-time result format overrides it.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.metadata_types import FailureSeverity

from contracts.enforce import BRONZE_METADATA
from contracts.model import Column, Contract
from quality.exceptions import QualityConfigError

Severity = Literal["error", "warn"]

# Default severity per rule kind. Length limits only warn: enforcement already quarantines
# over-long values, and a too-long free-text field does not make downstream numbers wrong, while a
# wrong type, a null key, an out-of-range amount, an unknown code or a duplicated key does.
SEVERITY_BY_RULE: dict[str, Severity] = {
    "columns": "error",
    "type": "error",
    "not_null": "error",
    "range": "error",
    "set": "error",
    "pattern": "error",
    "unique": "error",
    "primary_key": "error",
    "length": "warn",
}

# The pandas dtype a contract type has once the bronze table is read by quality.validate
# (deltalake -> pyarrow -> pandas with nullable Int/boolean dtypes and dates as datetime64). Each is
# a name ExpectColumnValuesToBeOfType resolves on pandas: "Timestamp" is pandas' tz-aware
# datetime scalar, "str" the pandas 3 string dtype, "datetime64" the naive dates.
PANDAS_TYPES: dict[str, str] = {
    "string": "str",
    "int32": "int32",
    "int64": "int64",
    "float64": "float64",
    "boolean": "bool",
    "date": "datetime64",
    "timestamp": "Timestamp",
}

METADATA_COLUMNS: tuple[str, ...] = tuple(BRONZE_METADATA.names)
MANIFEST_COLUMN = "_manifest_id"
REDACTED_CLASSIFICATIONS = frozenset({"confidential", "pii", "sensitive_pii"})
_GX_SEVERITY = {"error": FailureSeverity.CRITICAL, "warn": FailureSeverity.WARNING}


def suite_name(contract: Contract) -> str:
    """``<dataset>.v<version>``, e.g. ``orders.v1.0.0``."""
    return f"{contract.name}.v{contract.version}"


def contract_ref(contract: Contract) -> str:
    """``<dataset>@<version>``, as recorded in Delta commit metadata (``maestro.contract``)."""
    return f"{contract.name}@{contract.version}"


def severity_overrides(contract: Contract) -> dict[str, Severity]:
    """The contract's ``tags.quality_severity`` mapping, checked; {} when absent."""
    raw = contract.tags.get("quality_severity")
    if raw is None:
        return {}
    where = f"contract {contract_ref(contract)} tags.quality_severity"
    if not isinstance(raw, Mapping):
        raise QualityConfigError(f"{where}: expected a mapping of rule to error|warn, got {raw!r}")
    columns = set(contract.column_names)
    out: dict[str, Severity] = {}
    for key, value in raw.items():
        kind, _, column = str(key).partition(":")
        if kind not in SEVERITY_BY_RULE:
            raise QualityConfigError(
                f"{where}.{key}: unknown rule kind {kind!r}; use one of "
                f"{', '.join(SEVERITY_BY_RULE)} (optionally ':<column>')"
            )
        if column and column not in columns:
            raise QualityConfigError(f"{where}.{key}: {column!r} is not a column of the contract")
        if value not in ("error", "warn"):
            raise QualityConfigError(f"{where}.{key}: severity must be 'error' or 'warn', not {value!r}")
        out[str(key)] = value
    return out


def rule_severity(rule: str, overrides: Mapping[str, Severity]) -> Severity:
    """Severity of ``rule`` (``kind`` or ``kind:column``): full id override, kind override, table."""
    kind = rule.partition(":")[0]
    return overrides.get(rule) or overrides.get(kind) or SEVERITY_BY_RULE[kind]


def compile_suite(contract: Contract) -> gx.ExpectationSuite:
    """The expectation suite of ``contract``: one expectation per contract rule (see module doc).

    Raises:
        QualityConfigError: ``tags.quality_severity`` names an unknown rule, column or severity.
    """
    overrides = severity_overrides(contract)
    ref = contract_ref(contract)
    expectations: list[gxe.Expectation] = []

    def add(exp_cls: type[gxe.Expectation], rule: str, redact: bool, note: str, *,
            codes: tuple[str, ...] = (), **kwargs: Any) -> None:
        severity = rule_severity(rule, overrides)
        meta = {"contract": ref, "rule": rule, "severity": severity, "reason_codes": list(codes),
                "values_redacted": redact}
        expectations.append(exp_cls(
            **kwargs, meta=meta, severity=_GX_SEVERITY[severity],
            notes=f"Contract {ref}, rule `{rule}` ({severity}): {note}",
        ))

    add(gxe.ExpectTableColumnsToMatchSet, "columns", False,
        "the table has exactly the contract's columns plus the ingest metadata columns.",
        column_set=[*contract.column_names, *METADATA_COLUMNS], exact_match=True)
    for col in contract.columns:
        _column_rules(col, contract, add)
    if contract.primary_key:
        redact = any(contract.column(k).classification in REDACTED_CLASSIFICATIONS
                     for k in contract.primary_key)
        add(gxe.ExpectCompoundColumnsToBeUnique, "primary_key", redact,
            f"({', '.join(contract.primary_key)}) is unique within each ingested input.",
            codes=("duplicate_key",),
            column_list=[*contract.primary_key, MANIFEST_COLUMN], ignore_row_if="never")
    return gx.ExpectationSuite(
        name=suite_name(contract),
        expectations=expectations,
        meta={"contract": ref, "compiled_from": f"contracts/datasets/{contract.name}.yaml",
              "owner": contract.owner},
    )


def _column_rules(col: Column, contract: Contract, add: Any) -> None:
    c, name = col.constraints, col.name
    redact = col.classification in REDACTED_CLASSIFICATIONS
    add(gxe.ExpectColumnValuesToBeOfType, f"type:{name}", False,
        f"values are {col.type} (pandas {PANDAS_TYPES[col.type]}).", codes=(f"type:{name}",),
        column=name, type_=PANDAS_TYPES[col.type])
    if not col.nullable:
        add(gxe.ExpectColumnValuesToNotBeNull, f"not_null:{name}", redact,
            "the column is required (nullable: false).", codes=(f"not_null:{name}",), column=name)
    if c.min is not None or c.max is not None:
        bounds = {"min_value": _bound(col, c.min), "max_value": _bound(col, c.max)}
        add(gxe.ExpectColumnValuesToBeBetween, f"range:{name}", redact,
            f"min {c.min}, max {c.max} (inclusive).", column=name,
            codes=tuple(f"{k}:{name}" for k, v in (("min", c.min), ("max", c.max)) if v is not None),
            **{k: v for k, v in bounds.items() if v is not None})
    if c.allowed_values is not None:
        add(gxe.ExpectColumnValuesToBeInSet, f"set:{name}", redact,
            f"one of {', '.join(c.allowed_values)}.", column=name, codes=(f"allowed_values:{name}",),
            value_set=_typed_values(col, c.allowed_values))
    if c.pattern is not None:
        add(gxe.ExpectColumnValuesToMatchRegex, f"pattern:{name}", redact,
            f"matches {c.pattern}.", column=name, regex=c.pattern, codes=(f"pattern:{name}",))
    if c.min_length is not None or c.max_length is not None:
        bounds = {"min_value": c.min_length, "max_value": c.max_length}
        add(gxe.ExpectColumnValueLengthsToBeBetween, f"length:{name}", redact,
            f"length between {c.min_length} and {c.max_length} characters.", column=name,
            codes=tuple(f"{k}:{name}" for k, v in (("min_length", c.min_length),
                                                   ("max_length", c.max_length)) if v is not None),
            **{k: v for k, v in bounds.items() if v is not None})
    if c.unique and [name] != contract.primary_key:
        add(gxe.ExpectCompoundColumnsToBeUnique, f"unique:{name}", redact,
            "no value repeats within one ingested input (nulls ignored).", codes=(f"unique:{name}",),
            column_list=[name, MANIFEST_COLUMN], ignore_row_if="any_value_is_missing")


def _bound(col: Column, value: float | None) -> float | int | str | None:
    """A min/max bound in the column's terms.

    Integers stay integers. Date and timestamp bounds are numbers in the contract model, read the
    way enforcement casts them (days, resp. microseconds, since 1970-01-01 UTC); they become ISO
    datetimes (naive midnight for dates, UTC for timestamps), which GX compares vectorised
    against the frame's ``datetime64[ns]`` / tz-aware columns.
    """
    if value is None:
        return None
    if col.type in ("int32", "int64") and float(value).is_integer():
        return int(value)
    if col.type == "date":  # midnight: dates are compared as datetime64 (quality.scope)
        return datetime.combine(date(1970, 1, 1) + timedelta(days=int(value)), time()).isoformat()
    if col.type == "timestamp":
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))).isoformat()
    return value


def _typed_values(col: Column, values: list[str]) -> list[Any]:
    """Allowed values as the column's type (the contract lists them as text)."""
    if col.type in ("int32", "int64"):
        return [int(v) for v in values]
    if col.type == "float64":
        return [float(v) for v in values]
    if col.type == "boolean":
        return [v.strip().lower() in ("true", "t", "yes", "y", "1") for v in values]
    return list(values)
