"""NDJSON (one JSON object per line) as record batches of text columns.

Contract:

- Every line is one JSON object; blank lines are skipped. Anything else (invalid JSON, an array or
  scalar on a line, invalid UTF-8) raises ``ValueError`` naming the line number; the reader turns
  it into ``SourceUnreadableError`` for the object.
- Every column is ``string``. Strings stay as they are; numbers keep their exact source text
  (``1.50`` stays ``"1.50"``); ``true``/``false`` become ``"true"``/``"false"``; ``null`` and
  missing keys become null; objects and arrays become compact JSON text (numbers inside them also
  keep their source text).
- All batches of one object share one schema: the keys of every line, in first-seen order. Two
  passes over the local spool file learn the keys first (memory: the key set), then build batches
  of ``batch_rows`` rows (memory: one batch).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, cast

from connectors.jsontext import JsonNumber, to_text

if TYPE_CHECKING:
    import pyarrow as pa


def _decode(line: bytes, lineno: int) -> dict[str, Any] | None:
    text = line.strip()
    if not text:
        return None
    try:
        value = json.loads(text.decode("utf-8"), parse_int=JsonNumber, parse_float=JsonNumber)
    except UnicodeDecodeError as err:
        raise ValueError(f"line {lineno}: not UTF-8 ({err.reason} at byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"line {lineno}: invalid JSON ({err.msg} at column {err.colno})") from err
    if not isinstance(value, dict):
        raise ValueError(f"line {lineno}: expected a JSON object, got {type(value).__name__}")
    return value


def _open(path: str | os.PathLike[str], *, gz: bool) -> IO[bytes]:
    if gz:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _records(path: str | os.PathLike[str], *, gz: bool) -> Iterator[dict[str, Any]]:
    with _open(path, gz=gz) as f:
        for lineno, line in enumerate(f, start=1):
            record = _decode(line, lineno)
            if record is not None:
                yield record


def read_ndjson(path: str | os.PathLike[str], *, gz: bool, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield batches of at most ``batch_rows`` rows, all columns ``string``."""
    import pyarrow as pa

    columns: dict[str, None] = {}  # an ordered set of every key seen
    for record in _records(path, gz=gz):
        for key in record:
            columns.setdefault(key, None)
    names = list(columns)
    schema = pa.schema([(name, pa.string()) for name in names])
    rows: list[dict[str, Any]] = []
    for record in _records(path, gz=gz):
        rows.append(record)
        if len(rows) == batch_rows:
            yield _batch(rows, names, schema)
            rows = []
    if rows:
        yield _batch(rows, names, schema)


def _batch(rows: list[dict[str, Any]], names: list[str], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = [pa.array([to_text(r.get(n)) for r in rows], type=pa.string()) for n in names]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
