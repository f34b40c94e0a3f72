"""NDJSON (one JSON object per line) as record batches of text columns, in bounded memory.

Contract:

- Every line is one JSON object; blank lines are skipped. A line that is not one is yielded in
  place as a row with a reason (:mod:`connectors.badrows`): ``invalid_json``, ``not_an_object``,
  ``encoding`` (not UTF-8), ``json_depth`` (nested deeper than ``limits.max_json_depth``),
  ``line_too_long`` (longer than ``limits.max_line_bytes``: only its first
  ``limits.raw_excerpt_bytes`` are kept, the rest is read and dropped, never held),
  ``too_many_columns`` (its keys would take the object past ``limits.max_columns`` columns) or
  ``reserved_column`` (a key named ``_maestro_*``). The object goes on.
- Every column is ``string``. Strings stay as they are; numbers keep their exact source text
  (``1.50`` stays ``"1.50"``); ``true``/``false`` become ``"true"``/``"false"``; ``null`` and
  missing keys become null; objects and arrays become compact JSON text (numbers inside them also
  keep their source text) — see :mod:`connectors.jsontext`.
- All good rows of one object share one set of columns: the keys of every line, in first-seen
  order, up to ``limits.max_columns``. Two passes over the decoded stream learn the keys first
  (memory: the key set), then build batches (memory: one batch, bounded by rows, cells and the
  bytes of its lines).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from connectors.badrows import RESERVED_PREFIX, BadRow, bad_rows_table, batch_cap
from connectors.decode import READ_BYTES, BinaryStream, ReadLimits
from connectors.jsontext import JsonNumber, to_text

if TYPE_CHECKING:
    import pyarrow as pa

Opener = Callable[[], AbstractContextManager[BinaryStream]]
BATCH_LINE_BYTES = 16 << 20  # JSON text per batch: Python objects cost several times their text
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_BOM = b"\xef\xbb\xbf"


def _lines(stream: BinaryStream, limits: ReadLimits) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, bytes, too_long)`` of every line; a too-long line is its first bytes only."""
    buf, lineno, first, eof = b"", 1, True, False
    while not eof:
        data = stream.read(READ_BYTES)
        if first:
            data, first = (data[len(_BOM) :] if data.startswith(_BOM) else data), False
        eof = not data
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield lineno, line, False
            lineno += 1
        if len(buf) > limits.max_line_bytes:
            yield lineno, buf[: limits.raw_excerpt_bytes], True
            lineno += 1
            while True:  # drop the rest of that line as it streams past
                data = stream.read(READ_BYTES)
                if not data:
                    buf, eof = b"", True
                    break
                if (p := data.find(b"\n")) >= 0:
                    buf = data[p + 1 :]
                    break
    if buf:
        yield lineno, buf, False


def _depth(line: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings."""
    depth = deepest = 0
    for token in _TOKENS.findall(line):
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _decode(line: bytes, lineno: int, limits: ReadLimits) -> dict[str, Any] | BadRow | None:
    """The object on one line, None for a blank line, or the reason it is not one."""
    text = line.strip()
    if not text:
        return None
    if text.count(b"[") + text.count(b"{") > limits.max_json_depth and _depth(text) > limits.max_json_depth:
        return BadRow("json_depth", line, lineno)
    try:
        value = json.loads(text.decode("utf-8"), parse_int=JsonNumber, parse_float=JsonNumber)
    except UnicodeDecodeError:
        return BadRow("encoding", line, lineno)
    except RecursionError:
        return BadRow("json_depth", line, lineno)
    except ValueError:
        return BadRow("invalid_json", line, lineno)
    if not isinstance(value, dict):
        return BadRow("not_an_object", line, lineno)
    if any(k.startswith(RESERVED_PREFIX) for k in value):
        return BadRow("reserved_column", line, lineno)
    return value


def _records(
    opener: Opener, limits: ReadLimits
) -> Iterator[tuple[dict[str, Any] | BadRow, bytes, int]]:
    with opener() as stream:
        for lineno, line, too_long in _lines(stream, limits):
            if too_long:
                yield BadRow("line_too_long", line, lineno), line, lineno
                continue
            record = _decode(line, lineno, limits)
            if record is not None:
                yield record, line, lineno


def read_ndjson(opener: Opener, *, limits: ReadLimits, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield batches of at most ``batch_rows`` rows, all columns ``string``.

    Args:
        opener: opens the decoded stream of the object (called twice: one pass per call).
        limits: caps on line length, nesting and columns.
        batch_rows: rows per batch at most.
    """
    columns: dict[str, None] = {}  # an ordered set of the admitted keys
    for record, _, _ in _records(opener, limits):
        if isinstance(record, dict):
            new = [k for k in record if k not in columns]
            if new and len(columns) + len(new) <= limits.max_columns:
                columns.update(dict.fromkeys(new))
    names = list(columns)
    cap = batch_cap(batch_rows, columns=len(names), row_bytes=1)
    rows: list[dict[str, Any] | BadRow] = []
    size = 0
    for record, line, lineno in _records(opener, limits):
        if isinstance(record, dict) and any(k not in columns for k in record):
            # Its keys would pass limits.max_columns: the keys that fit are recovered.
            record = BadRow("too_many_columns", line, lineno, [to_text(record.get(n)) for n in names])
        rows.append(record)
        size += len(line)
        if len(rows) >= cap or size >= BATCH_LINE_BYTES:
            yield _batch(rows, names)
            rows, size = [], 0
    if rows:
        yield _batch(rows, names)


def _batch(rows: list[dict[str, Any] | BadRow], names: list[str]) -> pa.RecordBatch:
    import pyarrow as pa

    if any(isinstance(r, BadRow) for r in rows):
        texts = [r if isinstance(r, BadRow) else {n: to_text(r.get(n)) for n in names} for r in rows]
        return bad_rows_table(names, texts).to_batches(max_chunksize=len(rows))[0]
    good = [r for r in rows if isinstance(r, dict)]
    arrays = [pa.array([to_text(r.get(n)) for r in good], type=pa.string()) for n in names]
    schema = pa.schema([(name, pa.string()) for name in names])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
