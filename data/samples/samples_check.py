"""A plain, row-by-row reading of the contract rules, used only to check the generated samples.

This is not the platform's enforcement (that is vectorised and lives in ``contracts/``); it is a
second, deliberately simple opinion so that ``expected.json`` cannot silently disagree with the
contracts. Rules, in the order the reasons are named:

- exact duplicates (every column equal to an earlier row) are ``exact_duplicate`` and nothing else;
- a value in ``NULL_VALUES`` in a non-nullable column is ``not_null:<col>``;
- a value that does not parse as the column type is ``type:<col>``;
- then ``min``/``max``/``allowed_values``/``pattern`` per column, on the raw text for strings;
- ``unique:<col>``: every row sharing a value of a unique column;
- ``duplicate_key``: every row sharing a primary key with a row of different content.
"""

from __future__ import annotations

import re
from collections import Counter
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
    reasons: list[list[str]] = [[] for _ in rows]
    seen: set[tuple[str, ...]] = set()
    kept: list[int] = []
    for index, row in enumerate(rows):
        content = tuple(row.values())
        if content in seen:
            reasons[index] = ["exact_duplicate"]
            continue
        seen.add(content)
        kept.append(index)
        for column in contract.columns:
            reasons[index] += _column_reasons(column, row[column.name])
    for column in contract.columns:
        if column.constraints.unique:
            counts = Counter(
                rows[i][column.name] for i in kept if rows[i][column.name] not in NULL_VALUES
            )
            for i in kept:
                if counts[rows[i][column.name]] > 1:
                    reasons[i].append(f"unique:{column.name}")
    keys = Counter(tuple(rows[i][k] for k in contract.primary_key) for i in kept)
    for i in kept:
        key = tuple(rows[i][k] for k in contract.primary_key)
        if keys[key] > 1 and not any(part in NULL_VALUES for part in key):
            reasons[i].append("duplicate_key")
    return reasons
