"""Arrow-typed source columns (Parquet, JSON numbers): which fit a contract type, and how they convert.

Text columns are parsed by :mod:`contracts.parse`; this module handles the rest. Contract:

- :func:`source_kind` sorts an Arrow type into ``text``, ``numeric``, ``boolean``, ``temporal``,
  ``null`` or None (unsupported: nested, binary, time of day, durations, intervals, 256-bit
  decimals, extension types). :func:`fits` says which kinds a contract type accepts; an input with
  a column that does not fit is rejected whole (:class:`~contracts.exceptions.SchemaMismatchError`)
  before polars sees it, because polars panics on some of these types and silently keeps others.
- Temporal values (``date32``, ``date64``, ``timestamp`` of any unit and zone) are converted here,
  in numpy, with exact integer arithmetic: polars turns ``timestamp[s]`` into milliseconds by a
  multiplication that wraps around (2^62 s became 1970-01-01) and panics when it formats a value
  beyond its calendar. A value outside years 0001-9999 (:data:`contracts.model.DATE_RANGE`,
  :data:`~contracts.model.TIMESTAMP_RANGE`) converts to null, so enforcement rejects it as a type
  error, and it is quoted in quarantine as its stored number and unit (``2932897 days since
  1970-01-01``): the only faithful text for a value no calendar here can print.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.model import DATE_RANGE, TIMESTAMP_RANGE

Kind = Literal["text", "numeric", "boolean", "temporal", "null"]

_DAY_US = 86_400_000_000
_US_PER_UNIT = {"d": _DAY_US, "s": 1_000_000, "ms": 1_000, "us": 1}  # ns: divided, not multiplied
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": _DAY_US, "ns": _DAY_US * 1_000}
_UNIT_NAMES = {"d": "days", "s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# Source kinds each contract type accepts. Numbers are not dates: a typed input that stores a
# date as a number says nothing of its unit or epoch.
_FITS: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "numeric", "boolean", "temporal", "null"}),
    "int32": frozenset({"text", "numeric", "boolean", "null"}),
    "int64": frozenset({"text", "numeric", "boolean", "null"}),
    "float64": frozenset({"text", "numeric", "null"}),
    "boolean": frozenset({"text", "numeric", "boolean", "null"}),
    "date": frozenset({"text", "temporal", "null"}),
    "timestamp": frozenset({"text", "temporal", "null"}),
}


def source_kind(t: pa.DataType) -> Kind | None:
    """The kind of values an Arrow type holds, or None when enforcement cannot read it."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "numeric"
    if pa.types.is_decimal(t):
        return "numeric" if pa.types.is_decimal128(t) and t.precision <= 38 else None
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date32(t) or pa.types.is_date64(t) or pa.types.is_timestamp(t):
        return "temporal"
    if pa.types.is_null(t):
        return "null"
    return None


def fits(contract_type: str, t: pa.DataType) -> bool:
    kind = source_kind(t)
    return kind is not None and kind in _FITS[contract_type]


def decode_dictionaries(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    """``batch`` with the dictionary-encoded columns among ``names`` decoded to their value type."""
    for name in names:
        i = batch.schema.get_field_index(name)
        if i >= 0 and pa.types.is_dictionary(batch.schema.field(i).type):
            value_type = batch.schema.field(i).type.value_type
            if source_kind(value_type) is None:
                continue  # left as is: refused as an unsupported type
            # Through polars: pyarrow's dictionary_decode imports pyarrow.compute and pandas.
            s = pl.from_arrow(batch.column(i))
            assert isinstance(s, pl.Series)
            if source_kind(value_type) == "text":
                s = s.cast(pl.String)
            decoded = s.to_arrow(compat_level=pl.CompatLevel.oldest())
            batch = batch.set_column(i, pa.field(name, decoded.type), decoded)
    return batch


def validity(arr: pa.Array) -> np.ndarray:
    """True where ``arr`` holds a value (from its validity bitmap, without pyarrow.compute)."""
    n = len(arr)
    if pa.types.is_null(arr.type):
        return np.zeros(n, dtype=bool)
    bitmap = arr.buffers()[0]
    if bitmap is None:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + n].astype(bool)


def _physical(arr: pa.Array) -> tuple[np.ndarray, str]:
    """The stored integers of a temporal array (any value where null) and their unit."""
    t = arr.type
    if pa.types.is_date32(t):
        raw = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + len(arr))
        return raw[arr.offset :].astype(np.int64), "d"
    raw = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=arr.offset + len(arr))[arr.offset :]
    return raw, "ms" if pa.types.is_date64(t) else t.unit


def _convert(values: np.ndarray, unit: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(values in ``target``'s unit, True where the value is within years 0001-9999)."""
    if target == "date":
        lo, hi = DATE_RANGE
        out = values if unit == "d" else np.floor_divide(values, _PER_DAY[unit])
        return out, (out >= lo) & (out <= hi)
    lo, hi = TIMESTAMP_RANGE
    if unit == "ns":
        out = np.floor_divide(values, 1_000)
        return out, (out >= lo) & (out <= hi)
    k = _US_PER_UNIT[unit]
    ok = (values >= -(-lo // k)) & (values <= hi // k)  # checked before multiplying: no overflow
    return np.where(ok, values, 0) * k, ok


def _bitmap(mask: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(mask, bitorder="little"))


def temporal_to(arr: pa.Array, target: str) -> pa.Array:
    """``arr`` as the contract type ``target`` (``date`` or ``timestamp``), null outside years
    0001-9999."""
    values, unit = _physical(arr)
    out, ok = _convert(values, unit, target)
    keep = validity(arr) & ok
    if target == "date":
        data, type_ = out.astype(np.int32), pa.date32()
    else:
        data, type_ = np.ascontiguousarray(out, dtype=np.int64), pa.timestamp("us", tz="UTC")
    return pa.Array.from_buffers(type_, len(arr), [_bitmap(keep), pa.py_buffer(data)])


def stored_integers(arr: pa.Array) -> pa.Array:
    """A temporal array's stored integers (``int64``) with its nulls, whatever they mean."""
    values, _ = _physical(arr)
    data = pa.py_buffer(np.ascontiguousarray(values, dtype=np.int64))
    return pa.Array.from_buffers(pa.int64(), len(arr), [_bitmap(validity(arr)), data])


def temporal_text(arr: pa.Array) -> pa.Array:
    """A temporal array as text (``large_string``): ISO 8601 as polars writes it within years
    0001-9999, else the stored number and its unit."""
    values, unit = _physical(arr)
    present = validity(arr)
    _, ok = _convert(values, unit, "date" if unit == "d" else "timestamp")
    safe_values = np.where(ok, values, 0).astype(np.int32 if unit == "d" else np.int64)
    safe = pa.Array.from_buffers(arr.type, len(arr), [_bitmap(present), pa.py_buffer(safe_values)])
    iso = pl.from_arrow(safe)
    assert isinstance(iso, pl.Series)
    number = pl.Series(values).cast(pl.String) + f" {_UNIT_NAMES[unit]} since 1970-01-01"
    text = pl.select(
        pl.when(pl.Series(present).not_())
        .then(None)
        .when(pl.Series(ok))
        .then(iso.cast(pl.String))
        .otherwise(number)
    ).to_series()
    return text.to_arrow(compat_level=pl.CompatLevel.oldest())
