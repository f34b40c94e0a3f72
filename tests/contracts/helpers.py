"""Shared helpers of the contract tests: contracts from column lists, batches through an Enforcer."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from contracts.enforce import Enforcer, InputContext, bronze_schema, quarantine_schema
from contracts.model import Contract

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_contract(columns: list[dict[str, Any]], **extra: Any) -> Contract:
    return Contract.model_validate(
        {
            "name": "t",
            "version": "1.2.3",
            "owner": "o@example.com",
            "description": "test",
            "columns": columns,
            **extra,
        }
    )


def text_batch(
    columns: dict[str, list[Any]], *, null_values: list[str] | None = None, **typed: pa.Array
) -> pa.RecordBatch:
    """A batch of text columns (and any ``typed`` Arrow arrays), with null tokens in its metadata."""
    arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
    arrays.update(typed)
    metadata = {b"maestro.null_values": json.dumps(null_values).encode()} if null_values is not None else None
    return pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays), metadata=metadata)


def run(
    contract: Contract, batches: Iterable[pa.RecordBatch], **kw: Any
) -> tuple[list[dict], list[dict], Enforcer]:
    """Feed ``batches`` through one Enforcer; return (bronze rows, quarantine rows, enforcer).

    Checks on the way what every batch must keep: the output schemas and the row accounting.
    """
    enforcer = Enforcer(contract, context=InputContext("man-1", "file:///in.csv", "ab" * 32, NOW), **kw)
    valid: list[dict] = []
    rejected: list[dict] = []
    read = 0
    for batch in batches:
        read += batch.num_rows
        out = enforcer.process(batch)
        assert out.valid.schema == bronze_schema(contract)
        valid += out.valid.to_pylist()
        if out.rejected is not None:
            assert out.rejected.schema == quarantine_schema(contract)
            rejected += out.rejected.to_pylist()
        assert out.counts.reconciles
    enforcer.close()
    c = enforcer.counts
    assert c.reconciles and c.read == read
    assert (c.valid, c.rejected) == (len(valid), len(rejected))
    return valid, rejected, enforcer


def by_row(valid: list[dict], rejected: list[dict], column: str) -> dict[int, Any]:
    """Row number -> the column's bronze value, or the row's reasons when it was rejected."""
    out: dict[int, Any] = {r["_source_row"]: r[column] for r in valid}
    out.update({r["_source_row"]: r["_reasons"] for r in rejected})
    return out
