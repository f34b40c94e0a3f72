"""Text columns whose bytes are not UTF-8: found cheaply, turned into rows the reader could not read.

Arrow string arrays promise UTF-8 but nothing checks it when they are built from a file: pyarrow
reads a Parquet string column as it is stored, so a hostile Parquet file can carry any bytes. Given
to polars they make it panic when a value reaches Python (a ``PanicException``, which is not an
``Exception``), and written to bronze they poison the table for every reader. So before anything
else enforcement checks the text columns it will read (:func:`mark_invalid_text`):

- fast path: if the bytes a column's values span are all ASCII (one ``max`` over them, no copy),
  the column is valid; otherwise the span is decoded once and every value must start on a
  character boundary. Text from the CSV reader, already decoded, passes in ~2 ms per 16 MB;
- a column that fails is checked value by value (rare), and each row holding an invalid value is
  marked as a row the reader could not read (``_maestro_error = encoding``, the value's bytes as
  ``_maestro_raw`` unless the reader gave the row's own), with the value itself set to null, so
  the row goes to quarantine whole with its bytes, like a row a text reader could not decode.
"""

from __future__ import annotations

import codecs

import numpy as np
import pyarrow as pa

from contracts.schemas import READER_ERROR, READER_RAW

ENCODING = "encoding"


def _invalid_rows(arr: pa.Array) -> list[int]:
    """Indices of the non-null values of a text array whose bytes are not UTF-8."""
    if len(arr) == 0:
        return []
    if pa.types.is_string_view(arr.type):
        try:
            arr.validate(full=True)
            return []
        except pa.ArrowInvalid:
            values = arr.view(pa.binary_view()).to_pylist()
            return [i for i, v in enumerate(values) if v is not None and not _decodes(v)]
    buffers = arr.buffers()
    if buffers[2] is None:
        return []
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width, count=arr.offset + len(arr) + 1)[arr.offset :]
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(buffers[2], dtype=np.uint8, count=hi)[lo:]
    if data.size == 0 or int(data.max()) < 0x80:
        return []
    starts = offsets[:-1] - lo
    starts = starts[starts < data.size]
    if _decodes(data) and not ((data[starts] & 0xC0) == 0x80).any():
        return []
    bitmap = buffers[0]
    present = (
        np.ones(len(arr), dtype=bool)
        if bitmap is None
        else np.unpackbits(np.frombuffer(bitmap, np.uint8), bitorder="little")[
            arr.offset : arr.offset + len(arr)
        ]
    )
    raw = np.frombuffer(buffers[2], dtype=np.uint8, count=hi)
    return [i for i in range(len(arr)) if present[i] and not _decodes(raw[offsets[i] : offsets[i + 1]])]


def _decodes(data: object) -> bool:
    try:
        codecs.decode(memoryview(data), "utf-8")  # type: ignore[arg-type]
    except UnicodeDecodeError:
        return False
    return True


def _value_bytes(arr: pa.Array, i: int) -> bytes:
    if pa.types.is_string_view(arr.type):
        return arr.view(pa.binary_view())[i].as_py()
    binary = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    return arr.view(binary)[i].as_py()


def _without(arr: pa.Array, rows: list[int]) -> pa.Array:
    """``arr`` with ``rows`` set to null (same buffers, a new validity bitmap)."""
    present = np.ones(len(arr), dtype=bool)
    buffers = arr.buffers()
    if buffers[0] is not None:
        bits = np.unpackbits(np.frombuffer(buffers[0], np.uint8), bitorder="little")
        present = bits[arr.offset : arr.offset + len(arr)].astype(bool)
    present[rows] = False
    bitmap = pa.py_buffer(np.packbits(present, bitorder="little"))
    if pa.types.is_string_view(arr.type):
        values = arr.view(pa.binary_view()).to_pylist()
        return pa.array([None if not present[i] else v.decode() for i, v in enumerate(values)], arr.type)
    # Re-based on offset 0 so the new bitmap lines up; offsets and data are shared.
    width = 8 if pa.types.is_large_string(arr.type) else 4
    offsets = buffers[1].slice(arr.offset * width, (len(arr) + 1) * width)
    return pa.Array.from_buffers(arr.type, len(arr), [bitmap, offsets, buffers[2]])


def mark_invalid_text(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    """``batch`` with each row holding a non-UTF-8 value in one of the text columns ``names``
    marked as unreadable (``encoding``) and those values set to null; ``batch`` itself when there
    are none (the usual case)."""
    found: dict[int, bytes] = {}
    replaced: dict[str, pa.Array] = {}
    for name in names:
        i = batch.schema.get_field_index(name)
        if i < 0:
            continue
        arr = batch.column(i)
        if not (
            pa.types.is_string(arr.type)
            or pa.types.is_large_string(arr.type)
            or pa.types.is_string_view(arr.type)
        ):
            continue
        rows = _invalid_rows(arr)
        if rows:
            for row in rows:
                found.setdefault(row, _value_bytes(arr, row))
            replaced[name] = _without(arr, rows)
    if not found:
        return batch
    n = batch.num_rows
    errors = _existing(batch, READER_ERROR, n)
    raws = _existing(batch, READER_RAW, n)
    for i, value in found.items():
        if errors[i] is None:
            errors[i] = ENCODING
            raws[i] = value
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    out = {name: replaced.get(name, arr) for name, arr in columns.items()}
    out[READER_ERROR] = pa.array([None if e is None else str(e) for e in errors], pa.string())
    out[READER_RAW] = pa.array([_as_bytes(r) for r in raws], pa.large_binary())
    schema = pa.schema([pa.field(k, v.type) for k, v in out.items()], metadata=batch.schema.metadata)
    return pa.RecordBatch.from_arrays(list(out.values()), schema=schema)


def _existing(batch: pa.RecordBatch, name: str, n: int) -> list[object]:
    i = batch.schema.get_field_index(name)
    return batch.column(i).to_pylist() if i >= 0 else [None] * n


def _as_bytes(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()
