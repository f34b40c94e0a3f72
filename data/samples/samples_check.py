"""A plain, row-by-row reading of the contract rules, used only to check the generated samples.

This is not the platform's enforcement (that is :mod:`contracts.enforce`, vectorised); it is a
second, deliberately simple opinion so that ``expected.json`` cannot silently disagree with the
contracts. It follows the rules documented in :mod:`contracts.enforce`:

- per column: a value in ``NULL_VALUES`` in a non-nullable column is ``not_null:<col>``; a value
  that does not parse as the column type is ``type:<col>``; then ``min``/``max``/
  ``allowed_values``/``pattern``/``max_length``;
- only rows that pass every column rule take part in the key and unique checks, and the first
  occurrence wins: a later row with the same primary key is an ``exact_duplicate`` (dropped and
  counted) when every column is equal, else ``duplicate_key``; a later row repeating a value of a
  unique column is ``unique:<col>``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from contracts.model import Column, Contract

NULL_VALUES = ("", "NA")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INT_BOUNDS = {"int32": 2**31, "int64": 2**63}


def parse(column: Column, raw: str) -> Any:
    """The typed value of ``raw``, or None when it is not a value of the column's type."""
    kind = column.type
    if kind in _INT_BOUNDS:
        if not _INT.fullmatch(raw) or not -_INT_BOUNDS[kind] <= int(raw) < _INT_BOUNDS[kind]:
            return None
        return int(raw)
    if kind == "float64":
        return float(raw) if _FLOAT.fullmatch(raw) else None
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw.lower())
    try:
        if kind == "date":
            return date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
        if kind == "timestamp":
            value = datetime.fromisoformat(raw)
            return value if value.tzinfo is not None else None
    except ValueError:
        return None
    return raw


def _column_reasons(column: Column, raw: str) -> list[str]:
    if raw in NULL_VALUES:
        return [] if column.nullable else [f"not_null:{column.name}"]
    value = parse(column, raw)
    if value is None:
        return [f"type:{column.name}"]
    rules = column.constraints
    failed = [
        rules.min is not None and value < rules.min and "min",
        rules.max is not None and value > rules.max and "max",
        rules.allowed_values is not None and raw not in rules.allowed_values and "allowed_values",
        rules.pattern is not None and not re.search(rules.pattern, raw) and "pattern",
        rules.max_length is not None and len(raw) > rules.max_length and "max_length",
    ]
    return [f"{rule}:{column.name}" for rule in failed if rule]


def check_rows(contract: Contract, rows: list[dict[str, str]]) -> list[list[str]]:
    """The reasons each row would be rejected for (empty list: the row is valid)."""
    reasons = [
        [
            reason
            for column in contract.columns
            for reason in _column_reasons(column, row[column.name])
        ]
        for row in rows
    ]
    first_of_key: dict[tuple[str, ...], int] = {}
    for index, row in enumerate(rows):
        if reasons[index]:
            continue
        key = tuple(row[name] for name in contract.primary_key)
        first = first_of_key.setdefault(key, index)
        if first != index:
            reasons[index] = ["exact_duplicate" if rows[first] == row else "duplicate_key"]
    for column in contract.columns:
        if not column.constraints.unique or [column.name] == contract.primary_key:
            continue
        seen: set[str] = set()
        for index, row in enumerate(rows):
            value = row[column.name]
            if reasons[index] or value in NULL_VALUES:
                continue
            if value in seen:
                reasons[index] = [f"unique:{column.name}"]
            seen.add(value)
    return reasons
