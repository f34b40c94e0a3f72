"""CSV bytes to record batches: pyarrow parses clean chunks; rows it cannot read become reason rows.

The decoded byte stream (see :mod:`connectors.decode`) is cut into chunks of whole records
(:mod:`connectors.csv.chunks`). A chunk is parsed by pyarrow in one call, every column as text. If
pyarrow reports a ragged row or a conversion error (invalid UTF-8), or the chunk holds a NUL byte,
its records are located and those that are certainly not rows found, vectorised
(:mod:`connectors.csv.scan`: NUL bytes, invalid UTF-8, a wrong number of delimiters in an unquoted
line). Python's ``csv`` module reads those one by one; the runs between them go back to pyarrow (in
halves if pyarrow still finds a bad row in one, down to a few records read by Python). Records that
are not rows become rows with a reason (:mod:`connectors.badrows`), *in place*. A clean file costs
one pyarrow parse per chunk, as before; a chunk with bad rows costs about two.

Non-UTF-8 encodings are transcoded while streaming; bytes invalid in the declared encoding are
carried through as invalid UTF-8, so their rows get the reason ``encoding`` and keep their
original bytes (re-encoded in the declared encoding).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from connectors.badrows import BadRow, bad_rows_table, check_names, null_values_metadata, rebatch
from connectors.csv.chunks import Chunk, Chunker
from connectors.csv.scan import record_spans, suspects
from connectors.decode import BinaryStream, ReadLimits, excerpt
from connectors.exceptions import SourceUnreadableError

SMALL_GROUP = 64  # records below which Python reads them one by one
Row = BadRow | dict[str, str | None]
Segment = tuple[int, int, int]  # rows of the slow path: (source table, -1 for Python's rows; first; count)
# Records reach Python's csv module only after the chunker capped them (limits.max_line_bytes), so
# its own field limit (131,072 characters by default: a longer header field raised) is lifted.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


@dataclass(frozen=True)
class CsvDialect:
    """How to split CSV text into fields: the options both CSV-reading sources map onto."""

    delimiter: str = ","
    quote: str | None = '"'
    escape: str | None = None
    null_values: tuple[str, ...] = ("",)
    header: bool = True
    column_names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    newlines_in_values: bool = False
    skip_rows: int = 0


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _escape(err: UnicodeError) -> tuple[str, int]:
    """Decode error handler: each undecodable byte ``b`` becomes the lone surrogate U+DC00+b."""
    assert isinstance(err, UnicodeDecodeError)
    return "".join(chr(0xDC00 + b) for b in err.object[err.start : err.end]), err.end


def _unescape(err: UnicodeError) -> tuple[bytes, int]:
    """Encode error handler undoing :func:`_escape`: U+DC00+b becomes the byte ``b`` again."""
    assert isinstance(err, UnicodeEncodeError)
    chunk = err.object[err.start : err.end]
    return bytes(ord(c) - 0xDC00 if 0xDC00 <= ord(c) <= 0xDCFF else 0x3F for c in chunk), err.end


codecs.register_error("maestro.escape", _escape)
codecs.register_error("maestro.unescape", _unescape)


class _ToUtf8:
    """A stream of UTF-8 bytes from a stream in ``encoding``; invalid input bytes stay invalid UTF-8."""

    def __init__(self, stream: BinaryStream, encoding: str) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="maestro.escape")
        self._done = False

    def read(self, n: int) -> bytes:
        while not self._done:
            data = self._stream.read(n)
            self._done = not data
            text = self._decoder.decode(data, final=self._done)
            if text:
                return text.encode("utf-8", "surrogatepass")
        return b""


def raw_codec(encoding: str, head: bytes) -> str | None:
    """The codec that turns a row's UTF-8 text back into its original bytes (None: it is UTF-8)."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        return None
    if name in ("utf-16", "utf-32"):
        width = 2 if name == "utf-16" else 4
        little = head[:width] in (b"\xff\xfe", b"\xff\xfe\x00\x00")
        return f"{name}-{'le' if little else 'be'}"
    return name


class CsvRows:
    """Parses the chunks of one input into tables of text columns (see the module docstring)."""

    def __init__(
        self, names: Sequence[str], dialect: CsvDialect, *, newlines_in_values: bool, raw_codec: str | None
    ) -> None:
        from pyarrow import csv as pacsv

        self.names = list(names)
        self.dialect = dialect
        self._raw_codec = raw_codec
        self._bad = 0

        def on_invalid(_row: object) -> str:
            # Stop at the first: the chunk goes to the slow path anyway (a handler call per row of a
            # chunk of bad rows costs seconds).
            self._bad += 1
            return "error"

        self._read = pacsv.ReadOptions(column_names=self.names, block_size=1 << 20)
        # Runs of records in the slow path are small: threads would cost more than they save.
        self._read_small = pacsv.ReadOptions(column_names=self.names, block_size=1 << 20, use_threads=False)
        # Null tokens stay their original text (named in the metadata; enforcement nulls them for
        # bronze and keeps the text in quarantine), so nothing is ever null here.
        self._convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in self.names}, null_values=[], strings_can_be_null=False
        )
        self._parse = {
            nl: pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote or False,
                escape_char=dialect.escape or False,
                newlines_in_values=nl,
                invalid_row_handler=on_invalid,
            )
            for nl in (False, True)
        }
        self._nl = newlines_in_values

    # -- pyarrow --------------------------------------------------------------------------------

    def _arrow(self, data: bytes, *, records: int | None, by_lines: bool) -> pa.Table | None:
        """pyarrow's parse of ``data``, or None if any row in it is not clean."""
        from pyarrow import csv as pacsv

        if b"\x00" in data:
            return None
        self._bad = 0
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=self._read if records is None else self._read_small,
                parse_options=self._parse[self._nl and not by_lines],
                convert_options=self._convert,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if self._bad or (records is not None and table.num_rows != records):
            return None
        return table

    def parse(self, chunk: Chunk) -> pa.Table:
        """Rows of one chunk of whole records, in order."""
        if chunk.bad is not None:
            bad = chunk.bad
            if self._raw_codec is not None:
                bad = BadRow(bad.reason, self._original(bad.raw), bad.line)
            return bad_rows_table(self.names, [bad])
        if not chunk.by_lines:
            table = self._arrow(chunk.data, records=None, by_lines=False)
            if table is not None:
                return table
        return self._slow(chunk)

    # -- the slow path: bisect, then Python ----------------------------------------------------

    def _slow(self, chunk: Chunk) -> pa.Table:
        d = self.dialect
        spans = record_spans(chunk)
        starts, ends, lines = spans.starts, spans.ends, spans.lines
        bad = suspects(chunk.data, spans, delimiter=d.delimiter, quote=d.quote, escape=d.escape,
                       columns=len(self.names))
        # Rows come from pyarrow (runs of records between the known-bad ones, parsed together) and
        # from Python (single records); ``order`` puts them back in input order at the end.
        tables: list[pa.Table] = []
        loose: list[Row] = []
        order: dict[int, Segment] = {}  # first record -> (source: table index or -1, first row, rows)

        def python(lo: int, hi: int) -> None:
            for i in range(lo, hi):
                start = int(starts[i])
                row = self._python_row(chunk.data[start : int(ends[i])], int(lines[i]))
                if start == 0 and chunk.first_reason and isinstance(row, BadRow):
                    row = BadRow(chunk.first_reason, row.raw, row.line, row.values)
                order[i] = (-1, len(loose), 1)
                loose.append(row)

        def resolve(runs: list[tuple[int, int]]) -> None:
            """Runs of records, none known bad: pyarrow all at once, else in halves, else Python."""
            count = sum(hi - lo for lo, hi in runs)
            if count <= SMALL_GROUP:
                for lo, hi in runs:
                    python(lo, hi)
                return
            data = b"".join(chunk.data[int(starts[lo]) : int(ends[hi - 1])] for lo, hi in runs)
            table = self._arrow(data, records=count, by_lines=chunk.by_lines)
            if table is None:
                if len(runs) == 1:
                    lo, hi = runs[0]
                    runs = [(lo, (lo + hi) // 2), ((lo + hi) // 2, hi)]
                half = len(runs) // 2
                resolve(runs[:half])
                resolve(runs[half:])
                return
            first = 0
            for lo, hi in runs:
                order[lo] = (len(tables), first, hi - lo)
                first += hi - lo
            tables.append(table)

        known = np.flatnonzero(bad).tolist()
        for i in known:
            python(i, i + 1)
        edges = [-1, *known, len(spans)]
        runs = [(a + 1, b) for a, b in zip(edges, edges[1:], strict=False) if b > a + 1]
        if runs:
            resolve(runs)
        return self._in_order(tables, loose, [order[k] for k in sorted(order)])

    def _in_order(self, tables: list[pa.Table], loose: list[Row], order: list[Segment]) -> pa.Table:
        """One table of the rows of ``tables`` and ``loose`` in input order (``order``: the segments)."""
        if not order:
            return pa.table({n: pa.array([], pa.string()) for n in self.names})
        parts = [*tables, bad_rows_table(self.names, loose)] if loose else tables
        base = np.cumsum([0, *(t.num_rows for t in parts)])
        seg = np.asarray(order, dtype=np.int64).reshape(-1, 3)
        source = np.where(seg[:, 0] < 0, len(tables), seg[:, 0])
        first, rows = base[source] + seg[:, 1], seg[:, 2]
        begin = np.cumsum(rows) - rows  # where each segment starts in the output
        shift = np.repeat(first - begin, rows)
        joined = pa.concat_tables(parts, promote_options="default")
        if not shift.any():  # already in input order
            return joined
        return joined.combine_chunks().take(pa.array(shift + np.arange(shift.size)))

    def _python_row(self, record: bytes, line: int) -> BadRow | dict[str, str | None]:
        d = self.dialect
        raw = record.rstrip(b"\n").rstrip(b"\r") if record.endswith(b"\n") else record.rstrip(b"\r")
        reason = "nul_bytes" if b"\x00" in raw else None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            reason = reason or "encoding"
            text = raw.decode("utf-8", "surrogateescape")
        if self._plain(text):
            fields = text.split(d.delimiter)  # nothing quoted or escaped: the csv module would agree
        else:
            parsed = _split(text, d)
            if parsed is None or len(parsed) > 1 or _open_quote(text, d):
                reason = reason or "malformed_row"
            fields = parsed[0] if parsed else []
        if reason is None and len(fields) != len(self.names):
            reason = "ragged_row"
        values = [None if _unreadable(f) else f for f in fields]
        if reason is None:
            return dict(zip(self.names, values, strict=True))
        return BadRow(reason, self._original(raw), line, values)

    def _plain(self, text: str) -> bool:
        d = self.dialect
        return (
            (d.quote is None or d.quote not in text)
            and (d.escape is None or d.escape not in text)
            and "\r" not in text
            and "\n" not in text
        )

    def _original(self, raw: bytes) -> bytes:
        """The row's bytes as they were stored: UTF-8 re-encoded in the declared encoding."""
        if self._raw_codec is None:
            return raw
        text = raw.decode("utf-8", "surrogatepass")
        return text.encode(self._raw_codec, "maestro.unescape")


def _reader(text: str, d: CsvDialect, *, strict: bool) -> Iterator[list[str]]:
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=d.delimiter,
        quotechar=d.quote or '"',
        quoting=csv.QUOTE_MINIMAL if d.quote else csv.QUOTE_NONE,
        escapechar=d.escape,
        doublequote=True,
        strict=strict,
    )


def _split(text: str, d: CsvDialect) -> list[list[str]] | None:
    """Python's lenient csv reading of one record's text (as pyarrow reads it); None if it cannot."""
    try:
        return list(_reader(text, d, strict=False))
    except csv.Error:
        return None


def _open_quote(text: str, d: CsvDialect) -> bool:
    """Whether a quoted field is still open at the end of the record (lenient reading hides it)."""
    try:
        list(_reader(text, d, strict=True))
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


def _unreadable(field: str) -> bool:
    """A field that cannot be kept as text: it holds NUL or undecodable bytes."""
    if field.isascii():
        return "\x00" in field
    return "\x00" in field or any(0xDC00 <= ord(c) <= 0xDFFF for c in field)


def read_csv_stream(
    stream: BinaryStream,
    *,
    label: str,
    dialect: CsvDialect,
    limits: ReadLimits,
    batch_rows: int,
    default_names: Sequence[str] | None = None,
    empty_ok: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``batch_rows`` rows of the CSV text in ``stream`` (all columns text).

    Args:
        stream: the decoded bytes of the input.
        label: how errors name the input.
        dialect: how to split it into fields.
        limits: the caps (record length, columns).
        batch_rows: rows per batch.
        default_names: column names of a header-less input without ``column_names``
            (else ``f0``, ``f1`` ...).
        empty_ok: an empty input yields nothing instead of failing.
    """
    head = _Head(stream)
    utf8 = _is_utf8(dialect.encoding)
    text: BinaryStream = head if utf8 else _ToUtf8(head, dialect.encoding)
    chunker = Chunker(text, label=label, quote=dialect.quote, escape=dialect.escape,
                      newlines_in_values=dialect.newlines_in_values, limits=limits, strip_bom=utf8)
    for _ in range(dialect.skip_rows):
        if chunker.take_record() is None:
            break
    if dialect.header:
        record = chunker.take_record()
        if record is None:
            if empty_ok:
                return
            raise SourceUnreadableError(f"{label}: the file is empty or has no header row")
        names = _header_names(record, label=label, dialect=dialect)
    else:
        names = list(dialect.column_names or default_names or [])
        if not names:
            first = chunker.peek_record()
            if first is None:
                return
            names = [f"f{i}" for i in range(len(_fields(first, dialect) or [""]))]
    check_names(names, label=label, limits=limits)
    rows = CsvRows(names, dialect, newlines_in_values=dialect.newlines_in_values,
                   raw_codec=None if utf8 else raw_codec(dialect.encoding, head.first))
    tables = (rows.parse(chunk) for chunk in chunker.chunks())
    yield from rebatch(tables, batch_rows, metadata=null_values_metadata(dialect.null_values))


class _Head:
    """Pass-through stream that remembers its first bytes (to tell UTF-16 byte order)."""

    def __init__(self, stream: BinaryStream) -> None:
        self._stream, self.first = stream, b""

    def read(self, n: int) -> bytes:
        data = self._stream.read(n)
        if not self.first:
            self.first = data[:4]
        return data


def _fields(record: bytes, dialect: CsvDialect) -> list[str] | None:
    rows = _split(record.decode("utf-8", "surrogateescape"), dialect)
    return rows[0] if rows is not None and len(rows) == 1 else None


def _header_names(record: bytes, *, label: str, dialect: CsvDialect) -> list[str]:
    enc = dialect.encoding
    if b"\x00" in record:
        raise SourceUnreadableError(
            f"{label}: the header row holds NUL bytes, so this is not {enc} text "
            f"(binary data, or UTF-16 read as {enc}? set options.encoding): {excerpt(record, 60)}"
        )
    try:
        record.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceUnreadableError(
            f"{label}: the header row is not valid {enc} text (byte {err.start}): {excerpt(record, 60)}; "
            "check options.encoding"
        ) from err
    fields = _fields(record, dialect)
    if fields is None:
        raise SourceUnreadableError(
            f"{label}: the header row cannot be split into fields: {excerpt(record, 60)}"
        )
    return [f.strip().lstrip("\ufeff").strip() for f in fields]
