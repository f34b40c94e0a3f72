"""Streaming readers for landed bodies: CSV, JSON array and NDJSON, optionally gzip.

Each reader yields ``pyarrow.RecordBatch`` objects of at most ``batch_rows`` rows whose columns
are all ``string``:

- CSV: pyarrow's streaming CSV reader with every column forced to ``string``; values are the
  original text; an unquoted empty field is null (as in every CSV source of the platform), a
  quoted empty field ``""`` stays an empty string; quoted newlines are allowed.
- JSON array / NDJSON: every element must be an object; columns are the union of keys in order
  of first appearance (found in a first streaming pass, so every batch has the same schema);
  a missing key is null, JSON ``null`` is null, strings are themselves, numbers keep their
  original literal text (``1.50`` stays ``"1.50"``), booleans are ``"true"``/``"false"`` and
  nested objects/arrays are compact JSON text. ``NaN``/``Infinity`` are not JSON and are refused.

Memory is bounded by ``batch_rows`` and by :data:`MAX_ELEMENT_CHARS` per JSON element; the JSON
array is split incrementally, never loaded whole. Malformed input raises ``ValueError`` (or a
pyarrow/IO error) which :mod:`connectors.http_push.reader` turns into SourceUnreadableError.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from connectors.jsontext import JsonNumber, to_text

if TYPE_CHECKING:
    import pyarrow as pa

#: Largest single JSON element (one row) accepted, in characters.
MAX_ELEMENT_CHARS = 16 << 20
_WS = " \t\n\r"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=_no_constants)


def _open_text(path: Path, gz: bool) -> TextIO:
    raw = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - wrapped and closed
    # utf-8-sig: a leading byte-order mark is not part of the data.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def read_csv(path: Path, *, gz: bool, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    compression = "gzip" if gz else None
    parse = pacsv.ParseOptions(newlines_in_values=True)
    with pa.input_stream(str(path), compression=compression) as f:
        names = pacsv.open_csv(f, parse_options=parse).schema.names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate CSV column names {dupes}")
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    with pa.input_stream(str(path), compression=compression) as f:
        reader = pacsv.open_csv(f, parse_options=parse, convert_options=convert)
        for batch in reader:
            for off in range(0, batch.num_rows, batch_rows):
                yield batch.slice(off, batch_rows)


def read_json(path: Path, *, gz: bool, ndjson: bool, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    def objects() -> Iterator[dict[str, Any]]:
        with _open_text(path, gz) as f:
            elements = _ndjson_elements(f) if ndjson else _array_elements(f)
            for i, value in enumerate(elements):
                if not isinstance(value, dict):
                    what = "line" if ndjson else "element"
                    raise ValueError(f"{what} {i + 1} is a JSON {_kind(value)}, not an object")
                yield value

    columns: dict[str, None] = {}
    for obj in objects():
        columns.update(dict.fromkeys(obj))
    names = list(columns)
    if not names:
        return
    buffer: dict[str, list[str | None]] = {n: [] for n in names}
    rows = 0
    for obj in objects():
        for n in names:
            buffer[n].append(to_text(obj.get(n)))
        rows += 1
        if rows == batch_rows:
            yield pa.record_batch([pa.array(buffer[n], pa.string()) for n in names], names=names)
            buffer = {n: [] for n in names}
            rows = 0
    if rows:
        yield pa.record_batch([pa.array(buffer[n], pa.string()) for n in names], names=names)


def _kind(value: Any) -> str:
    if isinstance(value, JsonNumber):
        return "number"
    return {list: "array", str: "string", bool: "boolean"}.get(type(value), "null")


def _ndjson_elements(f: TextIO) -> Iterator[Any]:
    lineno = 0
    while True:
        line = f.readline(MAX_ELEMENT_CHARS + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_ELEMENT_CHARS:
            raise ValueError(f"line {lineno} is longer than {MAX_ELEMENT_CHARS} characters")
        text = line.strip(_WS)
        if not text:
            continue
        try:
            value, end = _DECODER.raw_decode(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"line {lineno}: invalid JSON: {err.msg} at column {err.colno}") from err
        if end != len(text):
            raise ValueError(f"line {lineno}: more than one JSON value on the line")
        yield value


class _ArrayScanner:
    """Splits a JSON array text stream into its elements, one at a time."""

    def __init__(self, f: TextIO, chunk: int = 1 << 16) -> None:
        self.f = f
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False

    def fill(self, want: int) -> bool:
        data = self.f.read(want)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def skip_ws(self) -> str:
        """Skip whitespace; return the next character ('' at end of input)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill(self.chunk):
                return ""

    def value(self, index: int) -> Any:
        want = self.chunk
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
                # A value touching the buffer end may continue in the next chunk (a number).
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
            except json.JSONDecodeError as err:
                if self.eof:
                    raise ValueError(f"element {index + 1}: invalid JSON: {err.msg}") from err
            if len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
                raise ValueError(
                    f"element {index + 1} is invalid or longer than {MAX_ELEMENT_CHARS} characters"
                )
            self.fill(want)
            want *= 2  # geometric growth: a long element is re-parsed O(log n) times


def _array_elements(f: TextIO) -> Iterator[Any]:
    s = _ArrayScanner(f)
    if s.skip_ws() != "[":
        raise ValueError("body is not a JSON array (application/x-ndjson is for one object a line)")
    s.pos += 1
    if s.skip_ws() == "]":
        s.pos += 1
    else:
        index = 0
        while True:
            yield s.value(index)
            c = s.skip_ws()
            s.pos += 1
            if c == "]":
                break
            if c != ",":
                found = repr(c) if c else "end of input"
                raise ValueError(f"expected ',' or ']' after element {index + 1}, found {found}")
            index += 1
            s.skip_ws()
    if s.skip_ws():
        raise ValueError("unexpected data after the end of the JSON array")
