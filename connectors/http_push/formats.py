"""Streaming readers for landed bodies: CSV, JSON array and NDJSON, optionally gzip.

Each reader yields ``pyarrow.RecordBatch`` objects of at most ``batch_rows`` rows whose columns
are all ``string``:

- CSV: pyarrow's streaming CSV reader with every column forced to ``string``; values are the
  original text; an unquoted empty field is null (as in every CSV source of the platform), a
  quoted empty field ``""`` stays an empty string; quoted newlines are allowed.
- JSON array / NDJSON: each element is a row; columns are the union of keys in order of first
  appearance (found in a first streaming pass, so every batch has the same schema); a missing
  key is null, JSON ``null`` is null, strings are themselves, numbers keep their original literal
  text (``1.50`` stays ``"1.50"``), booleans are ``"true"``/``"false"`` and nested
  objects/arrays are compact JSON text.
- An element that is not a readable row does not fail the body: it becomes a row whose
  ``_maestro_error`` says why, ``_maestro_raw`` holds its original bytes and ``_maestro_line``
  its line (the reader contract of :mod:`connectors.base`; enforcement quarantines it). Reasons:
  ``json_depth`` (nests deeper than :data:`~connectors.jsontext.MAX_DEPTH`), ``not_an_object``,
  ``invalid_json`` (invalid JSON, ``NaN``/``Infinity``, two values on a NDJSON line),
  ``reserved_column`` (a key starting ``_maestro_``) and, for NDJSON, ``line_too_long`` (over
  :data:`MAX_ELEMENT_CHARS`; the raw bytes are its first :data:`RAW_PREFIX_CHARS`). The reserved
  columns are present only in bodies that hold such a row (and then on every batch).

Memory is bounded by ``batch_rows`` and by :data:`MAX_ELEMENT_CHARS` per JSON element; the JSON
array is split incrementally, never loaded whole. A body that cannot be read at all (not an
array, broken structure, an array element over the limit, a CSV error) raises ``ValueError`` (or
a pyarrow/IO error) which :mod:`connectors.http_push.reader` turns into SourceUnreadableError.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from connectors.jsontext import MAX_DEPTH, JsonNumber, deeper_than, to_text

#: Largest single JSON element (one row) accepted, in characters.
MAX_ELEMENT_CHARS = 16 << 20
#: Of a NDJSON line over MAX_ELEMENT_CHARS, the quarantine keeps this much (the whole body stays
#: in the landing area).
RAW_PREFIX_CHARS = 64 << 10
#: The reserved columns of rows a reader cannot read (the contract in connectors/base.py).
ERROR_COLUMN, RAW_COLUMN, LINE_COLUMN = "_maestro_error", "_maestro_raw", "_maestro_line"
RESERVED_PREFIX = "_maestro_"

if TYPE_CHECKING:
    import pyarrow as pa
_WS = " \t\n\r"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=_no_constants)


def _open_text(path: Path, gz: bool) -> TextIO:
    raw = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - wrapped and closed
    # utf-8-sig: a leading byte-order mark is not part of the data.
    # newline="\n": a NDJSON line ends at "\n" only (a stray "\r" is JSON whitespace).
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="\n")


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


@dataclass(frozen=True)
class _Bad:
    """A row that is not a readable row: its reason code, original bytes and line."""

    reason: str
    raw: bytes
    line: int


def _problem(value: Any, keys: set[str]) -> str | None:
    """Why ``value`` is not a usable row (a reason code), or None.

    ``keys`` collects the keys already found not to be reserved, so each key is checked once.
    """
    if type(value) is not dict:
        return "not_an_object"
    if deeper_than(value, MAX_DEPTH):
        return "json_depth"
    new = value.keys() - keys
    if new:
        if any(k.startswith(RESERVED_PREFIX) for k in new):
            return "reserved_column"
        keys.update(new)
    return None


def read_json(path: Path, *, gz: bool, ndjson: bool, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    def rows() -> Iterator[tuple[int, Any]]:
        with _open_text(path, gz) as f:
            yield from _ndjson_elements(f) if ndjson else _array_elements(f)

    columns: dict[str, None] = {}
    bad = False
    for _, row in rows():
        if isinstance(row, _Bad):
            bad = True
        else:
            columns.update(dict.fromkeys(row))
    names = list(columns)
    if not names and not bad:
        return
    reserved = [(ERROR_COLUMN, pa.string()), (RAW_COLUMN, pa.large_binary()), (LINE_COLUMN, pa.int64())]
    schema = pa.schema([(n, pa.string()) for n in names] + (reserved if bad else []))

    def batch(buffer: dict[str, list[Any]]) -> pa.RecordBatch:
        return pa.record_batch([pa.array(buffer[f.name], f.type) for f in schema], schema=schema)

    buffer: dict[str, list[Any]] = {n: [] for n in schema.names}
    count = 0
    for line, row in rows():
        if isinstance(row, _Bad):
            for n in names:
                buffer[n].append(None)
            buffer[ERROR_COLUMN].append(row.reason)
            buffer[RAW_COLUMN].append(row.raw)
        else:
            for n in names:
                buffer[n].append(to_text(row.get(n)))
            if bad:
                buffer[ERROR_COLUMN].append(None)
                buffer[RAW_COLUMN].append(None)
        if bad:
            buffer[LINE_COLUMN].append(line)
        count += 1
        if count == batch_rows:
            yield batch(buffer)
            buffer = {n: [] for n in schema.names}
            count = 0
    if count:
        yield batch(buffer)


def _ndjson_elements(f: TextIO) -> Iterator[tuple[int, Any]]:
    """(line number, object or :class:`_Bad`) for every non-blank line."""
    lineno = 0
    keys: set[str] = set()
    while True:
        line = f.readline(MAX_ELEMENT_CHARS + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_ELEMENT_CHARS and not line.endswith("\n"):
            head = line[:RAW_PREFIX_CHARS]
            while line and not line.endswith("\n"):  # skip the rest, never holding it
                line = f.readline(MAX_ELEMENT_CHARS)
            yield lineno, _Bad("line_too_long", head.encode("utf-8"), lineno)
            continue
        text = line.strip(_WS)
        if not text:
            continue
        original = line.rstrip("\r\n")
        try:
            value, end = _DECODER.raw_decode(text)
        except RecursionError:
            yield lineno, _Bad("json_depth", original.encode("utf-8"), lineno)
            continue
        except ValueError:  # invalid JSON, NaN or Infinity
            yield lineno, _Bad("invalid_json", original.encode("utf-8"), lineno)
            continue
        if end != len(text):  # more than one value on the line
            yield lineno, _Bad("invalid_json", original.encode("utf-8"), lineno)
            continue
        problem = _problem(value, keys)
        yield lineno, (value if problem is None else _Bad(problem, original.encode("utf-8"), lineno))


# A JSON string (escapes included), or one structural character: enough to find where an element
# ends without parsing it (an element too deep or invalid to parse still ends somewhere).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|["\[\]{},]', re.S)


def _element_end(buf: str, pos: int) -> int | None:
    """Where the array element starting at ``pos`` ends, or None if not within ``buf``."""
    level = 0
    for m in _TOKEN.finditer(buf, pos):
        c = m.group()
        if c == '"':
            return None  # a string not closed within the buffer
        if c[0] == '"':
            continue
        if c in "[{":
            level += 1
        elif c in "]}":
            if level == 0:
                return m.start()  # the array's own ']' after a scalar
            level -= 1
            if level == 0:
                return m.end()
        elif level == 0:  # ','
            return m.start()
    return None


class _ArrayScanner:
    """Splits a JSON array text stream into its elements, one at a time."""

    def __init__(self, f: TextIO, chunk: int = 1 << 16) -> None:
        self.f = f
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # physical line of self._line_pos
        self._line_pos = 0
        self._keys: set[str] = set()

    def line(self) -> int:
        """The 1-based line of ``pos``."""
        self._line += self.buf.count("\n", self._line_pos, self.pos)
        self._line_pos = self.pos
        return self._line

    def fill(self, want: int) -> bool:
        data = self.f.read(want)
        if not data:
            self.eof = True
            return False
        self.line()
        self.buf = self.buf[self.pos :] + data
        self.pos = self._line_pos = 0
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

    def value(self, index: int) -> tuple[int, Any]:
        """(line, the next element): a row, or a :class:`_Bad` row (too deep, invalid ...)."""
        want = self.chunk
        while True:
            reason = None
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
                # A value touching the buffer end may continue in the next chunk (a number).
                if end < len(self.buf) or self.eof:
                    line, start, self.pos = self.line(), self.pos, end
                    problem = _problem(value, self._keys)
                    if problem is None:
                        return line, value
                    return line, _Bad(problem, self.buf[start:end].encode("utf-8"), line)
            except RecursionError:
                reason = "json_depth"
            except ValueError:  # invalid JSON, NaN or Infinity; or the element is incomplete
                reason = "invalid_json"
            if reason is not None:
                stop = _element_end(self.buf, self.pos)
                if stop == self.pos:
                    raise ValueError(f"element {index + 1} is missing (two commas in a row?)")
                if stop is not None:
                    line = self.line()
                    text, self.pos = self.buf[self.pos : stop], stop
                    return line, _Bad(reason, text.rstrip(_WS).encode("utf-8"), line)
                if self.eof:
                    raise ValueError(f"element {index + 1}: invalid JSON (its end cannot be found)")
            if len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
                raise ValueError(
                    f"element {index + 1} is invalid or longer than {MAX_ELEMENT_CHARS} characters"
                )
            self.fill(want)
            want *= 2  # geometric growth: a long element is re-parsed O(log n) times


def _array_elements(f: TextIO) -> Iterator[tuple[int, Any]]:
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
