"""Rows a reader could not read: the reserved columns of the reader contract, as enforcement sees them.

A reader marks a row it could not read as a row of its format (``connectors/base.py``) with
``_maestro_error`` (its reason code), ``_maestro_raw`` (its original bytes) and optionally
``_maestro_line`` (the physical line where it starts). :func:`reader_rows` reads those columns of a
batch; enforcement rejects every marked row with its code alone (the contract columns of such a row
hold what the reader could recover, so their rules would only add noise), keeps it out of the key
and unique checks, and stores its bytes and line in quarantine (``_raw``, ``_source_line``).

The columns are read defensively, as a hostile typed input (a Parquet file that has a column of that
name) could bring them in any type: a non-null ``_maestro_error`` of any type marks the row; a code
that is not ``lower_snake_case`` of at most 64 characters is replaced by ``unreadable_row``, and so
is any code beyond the first :data:`MAX_OTHER_CODES` codes of an input that are not in
:data:`MESSAGES` (the codes are counted in the commit's metadata, which must stay small); raw bytes
are taken from binary or text columns only, lines from integer columns only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.schemas import READER_COLUMNS, READER_ERROR, READER_LINE, READER_RAW
from contracts.typed_sources import source_kind, validity

UNREADABLE = "unreadable_row"
MAX_OTHER_CODES = 16
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OLDEST = pl.CompatLevel.oldest()
# Readable explanations of the reason codes of connectors/base.py; others get a generic one.
MESSAGES = {
    "ragged_row": "the row has a different number of fields than the header",
    "encoding": "the row holds bytes that are not valid in the declared encoding",
    "nul_bytes": "the row holds NUL bytes",
    "field_too_large": "a field of the row is over the size limit",
    "line_too_long": "the line is over the length limit",
    "json_depth": "the JSON value nests too deep",
    "not_an_object": "the JSON line is not an object",
    "invalid_json": "the line is not valid JSON",
    UNREADABLE: "the reader could not read the row",
}


def _is_binary_like(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or source_kind(t) == "text"
    )


@dataclass
class ReaderRows:
    """The reserved columns of one batch (each None when absent or of a type that cannot hold it)."""

    failed: np.ndarray  # True where the reader marked the row
    error: pa.Array | None
    raw: pa.Array | None
    line: pa.Array | None

    def codes(self, rows: np.ndarray, others: set[str]) -> list[str]:
        """The reason code of each of ``rows`` (marked rows), checked. ``others``: the codes not in
        :data:`MESSAGES` this input has used so far (updated)."""
        if self.error is None or source_kind(self.error.type) != "text":
            return [UNREADABLE] * rows.size
        s = pl.from_arrow(self.error)
        assert isinstance(s, pl.Series)
        out = []
        for v in s.gather(rows).to_list():
            if v is None or not _CODE.fullmatch(v):
                v = UNREADABLE
            elif v not in MESSAGES and v not in others:
                if len(others) >= MAX_OTHER_CODES:
                    v = UNREADABLE
                else:
                    others.add(v)
            out.append(v)
        return out

    def raw_bytes(self, rows: np.ndarray) -> pa.Array:
        """``_raw`` of ``rows``: the marked rows' original bytes, null for the others."""
        if self.raw is None:
            return pa.nulls(rows.size, pa.large_binary())
        s = pl.from_arrow(self.raw)
        assert isinstance(s, pl.Series)
        picked = s.gather(rows).cast(pl.Binary)
        marked = pl.Series(self.failed[rows])
        picked = pl.select(pl.when(marked).then(picked)).to_series()
        return picked.to_arrow(compat_level=_OLDEST)  # large_binary

    def lines(self, rows: np.ndarray) -> pa.Array | None:
        """``_source_line`` of ``rows`` (any rejected rows), or None when the reader gave none."""
        if self.line is None:
            return None
        s = pl.from_arrow(self.line)
        assert isinstance(s, pl.Series)
        return s.gather(rows).cast(pl.Int64, strict=False).to_arrow(compat_level=_OLDEST)


def reader_rows(batch: pa.RecordBatch) -> ReaderRows | None:
    """The reader's marks in ``batch``, or None when it carries none of the reserved columns."""
    names = batch.schema.names
    if not any(n in READER_COLUMNS for n in names):
        return None

    def column(name: str) -> pa.Array | None:
        i = batch.schema.get_field_index(name)
        return batch.column(i) if i >= 0 else None

    error, raw, line = column(READER_ERROR), column(READER_RAW), column(READER_LINE)
    failed = validity(error) if error is not None else np.zeros(batch.num_rows, dtype=bool)
    if raw is not None and not _is_binary_like(raw.type):
        raw = None
    if line is not None and not pa.types.is_integer(line.type):
        line = None
    return ReaderRows(failed=failed, error=error, raw=raw, line=line)


def explain(code: str) -> str:
    """The ``_errors`` text of a reader's reason code."""
    return f"row could not be read ({code}): {MESSAGES.get(code, MESSAGES[UNREADABLE])}"
