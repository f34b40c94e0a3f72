"""Rows a reader could not read as rows of its format, and batches that carry them in place.

See the reader contract in :mod:`connectors.base`: such a row is yielded where it stood in the
input, with the reserved columns ``_maestro_error`` (its reason code), ``_maestro_raw`` (its
original bytes, ``large_binary``) and ``_maestro_line`` (the physical line where it starts). Good
rows hold nulls there; batches without a bad row leave the three columns out.

Reason codes the readers here emit:

============================  =====================================================================
``ragged_row``                a CSV record with more or fewer fields than the header
``malformed_row``             a CSV record that cannot be split into fields (a quote that breaks it)
``encoding``                  bytes that are not valid in the declared encoding
``nul_bytes``                 NUL bytes in a text row
``line_too_long``             a line longer than ``limits.max_line_bytes`` (raw: its first bytes)
``field_too_large``           a quoted CSV field still open after ``limits.max_line_bytes``
``invalid_json``              an NDJSON line that is not JSON
``not_an_object``             an NDJSON line that is JSON but not an object
``json_depth``                an NDJSON value nested deeper than ``limits.max_json_depth``
``too_many_columns``          an NDJSON line whose keys would pass ``limits.max_columns``
``reserved_column``           an NDJSON line with a key named ``_maestro_*``
============================  =====================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from connectors.decode import ReadLimits, excerpt
from connectors.exceptions import SourceUnreadableError

ERROR = "_maestro_error"
RAW = "_maestro_raw"
LINE = "_maestro_line"
RESERVED_PREFIX = "_maestro_"
NULL_VALUES_KEY = b"maestro.null_values"
ERROR_FIELDS = (pa.field(ERROR, pa.string()), pa.field(RAW, pa.large_binary()), pa.field(LINE, pa.int64()))
# A batch also ends at this many bytes of Arrow data or cells (rows x columns), so one batch stays
# bounded however wide the rows or the table: 64 MiB, or 4M cells (16 MiB of string offsets).
BATCH_BYTES = 64 << 20
BATCH_CELLS = 4 << 20


@dataclass(frozen=True)
class BadRow:
    """One unreadable row: its reason, original bytes, starting line and what could be recovered."""

    reason: str
    raw: bytes
    line: int | None
    values: Sequence[str | None] = ()


def check_names(names: Sequence[str], *, label: str, limits: ReadLimits, what: str = "header") -> None:
    """Reject column names that cannot map to a table: empty, repeated, reserved, or too many."""
    if len(names) > limits.max_columns:
        raise SourceUnreadableError(
            f"{label}: the {what} has {len(names):,} columns, more than the limit of "
            f"{limits.max_columns:,} (limits.max_columns)"
        )
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        raise SourceUnreadableError(
            f"{label}: the {what} has empty column names (column {', '.join(map(str, empty[:5]))}"
            f"{' ...' if len(empty) > 5 else ''}); every column needs a name"
        )
    seen: set[str] = set()
    repeated = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if repeated:
        shown = ", ".join(excerpt(n, 40) for n in sorted(set(repeated))[:5])
        raise SourceUnreadableError(f"{label}: the {what} repeats column names: {shown}")
    reserved = [n for n in names if n.startswith(RESERVED_PREFIX)]
    if reserved:
        raise SourceUnreadableError(
            f"{label}: the {what} uses the reserved column name {excerpt(reserved[0], 40)} "
            f"(names starting with {RESERVED_PREFIX!r} are the platform's)"
        )


def bad_rows_table(names: Sequence[str], rows: Sequence[BadRow | dict[str, str | None]]) -> pa.Table:
    """A table of ``rows`` in order: good rows (a dict of texts) and bad rows, with the error columns."""
    columns: list[list[str | None]] = [[] for _ in names]
    errors: list[str | None] = []
    raws: list[bytes | None] = []
    lines: list[int | None] = []
    for row in rows:
        if isinstance(row, BadRow):
            values = list(row.values)[: len(names)]
            values += [None] * (len(names) - len(values))
            errors.append(row.reason)
            raws.append(row.raw)
            lines.append(row.line)
        else:
            values = [row.get(n) for n in names]
            errors.append(None)
            raws.append(None)
            lines.append(None)
        for col, value in zip(columns, values, strict=True):
            col.append(value)
    arrays = [pa.array(c, pa.string()) for c in columns]
    arrays += [pa.array(errors, pa.string()), pa.array(raws, pa.large_binary()), pa.array(lines, pa.int64())]
    schema = pa.schema([pa.field(n, pa.string()) for n in names] + list(ERROR_FIELDS))
    return pa.Table.from_arrays(arrays, schema=schema)


def null_values_metadata(null_values: Iterable[str]) -> dict[bytes, bytes]:
    return {NULL_VALUES_KEY: json.dumps(list(null_values)).encode()}


def batch_cap(batch_rows: int, *, columns: int, row_bytes: float) -> int:
    """Rows per batch: ``batch_rows``, fewer when rows are wide enough to pass :data:`BATCH_BYTES`
    or :data:`BATCH_CELLS`."""
    by_bytes = BATCH_BYTES // max(int(row_bytes), 1)
    by_cells = BATCH_CELLS // max(columns, 1)
    return max(1, min(batch_rows, by_bytes, by_cells))


def rebatch(
    tables: Iterable[pa.Table], batch_rows: int, *, metadata: dict[bytes, bytes] | None = None
) -> Iterator[pa.RecordBatch]:
    """Batches of ``batch_rows`` rows (the last one smaller; fewer for very wide rows, see
    :func:`batch_cap`) from tables in order.

    A batch within one table is a zero-copy slice; one spanning tables is copied once. Pieces with
    and without the error columns are joined with nulls in those columns for the good rows.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    cap = batch_rows

    def emit() -> pa.RecordBatch:
        if len(pending) == 1:
            out = pending[0]
        elif all(p.schema.equals(pending[0].schema) for p in pending):
            out = pa.concat_batches(pending)
        else:
            joined = pa.concat_tables(
                [pa.Table.from_batches([p]) for p in pending], promote_options="default"
            ).combine_chunks()
            out = joined.to_batches()[0]
        return out.replace_schema_metadata(metadata) if metadata else out

    for table in tables:
        if table.num_rows:
            cap = batch_cap(batch_rows, columns=table.num_columns, row_bytes=table.nbytes / table.num_rows)
        for block in table.to_batches():
            offset = 0
            while offset < block.num_rows:
                take = max(0, min(cap - rows, block.num_rows - offset))
                if take:
                    pending.append(block.slice(offset, take))
                    rows += take
                    offset += take
                if rows >= cap:
                    yield emit()
                    pending, rows = [], 0
    if rows:
        yield emit()
