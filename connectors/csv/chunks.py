"""Cut a decoded CSV byte stream into chunks of whole records, in bounded memory.

A chunk ends after a record terminator: the last newline of the buffer, or, when quoted fields may
hold newlines (``newlines_in_values``), the last newline with an even number of quote characters
before it (RFC 4180: a quote inside a quoted field is doubled, so parity tells inside from outside).
Counting runs in C (``bytes.count``), so finding a cut costs next to nothing.

Records are capped at ``limits.max_line_bytes``:

- one physical line longer than that becomes a ``line_too_long`` row holding its first
  ``limits.raw_excerpt_bytes``; the rest of the line is read and dropped, never held;
- when a quoted field is still open after that many bytes (an unbalanced quote), the lines up to
  the cap are read one per record: the line that opened the quote becomes a ``field_too_large``
  row (unless it reads as a row by itself: a quote inside a value, ``5" screen``), and the rows
  behind it are not lost in it. A quote still open at the end of the input does the same, with the
  reason ``malformed_row``.

Line terminators are ``\\n`` (``\\r\\n`` included), or ``\\r`` for files that use it alone; line numbers
count them from 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from connectors.badrows import BadRow
from connectors.decode import BinaryStream, ReadLimits
from connectors.exceptions import SourceUnreadableError

CHUNK_BYTES = 4 << 20
_BOM = b"\xef\xbb\xbf"


def count_byte(data: bytes, byte: bytes, start: int = 0, end: int | None = None) -> int:
    """Occurrences of one byte: numpy for large spans (5x faster than ``bytes.count``)."""
    end = len(data) if end is None else end
    if end - start < 1 << 16 or len(byte) != 1:
        return data.count(byte, start, end)
    import numpy as np

    view = np.frombuffer(data, np.uint8, end - start, start)
    return int(np.count_nonzero(view == byte[0]))


@dataclass(frozen=True)
class Splitter:
    """Where records end: the line terminator, and the quote parity rule when it applies."""

    nl: bytes
    quote: bytes | None
    escape: bytes | None
    parity: bool

    def quotes(self, data: bytes, start: int, end: int) -> int:
        if self.quote is None:
            return 0
        n = count_byte(data, self.quote, start, end)
        return n - data.count(self.escape + self.quote, start, end) if self.escape else n

    def first_end(self, data: bytes) -> int | None:
        """End of the first record in ``data`` (after its terminator), None if it is not complete."""
        pos, odd = 0, 0
        while (p := data.find(self.nl, pos)) >= 0:
            if self.parity:
                odd ^= self.quotes(data, pos, p + 1) & 1
            if not odd:
                return p + 1
            pos = p + 1
        return None

    def last_end(self, data: bytes) -> int:
        """End of the last complete record in ``data`` (0: none)."""
        p = data.rfind(self.nl)
        if p < 0 or not self.parity:
            return p + 1
        total, tail, end = self.quotes(data, 0, len(data)), 0, len(data)
        while p >= 0:
            tail += self.quotes(data, p, end)
            end = p
            if not (total - tail) % 2:
                return p + 1
            p = data.rfind(self.nl, 0, p)
        return 0


@dataclass(frozen=True)
class Chunk:
    """Whole records (``data``, starting on physical line ``line``), or one ``bad`` row."""

    data: bytes
    line: int
    splitter: Splitter
    by_lines: bool = False
    bad: BadRow | None = None
    first_reason: str | None = None
    """Reason for the first record if it is not a row (it opened a quote that never closed)."""


class Chunker:
    """Reads ``stream`` and hands out the header record(s), then chunks of whole records."""

    def __init__(
        self,
        stream: BinaryStream,
        *,
        label: str,
        quote: str | None,
        escape: str | None,
        newlines_in_values: bool,
        limits: ReadLimits,
        strip_bom: bool,
    ) -> None:
        self._stream, self._label, self._limits, self._strip_bom = stream, label, limits, strip_bom
        self._quote = quote.encode() if quote else None
        self._escape = escape.encode() if escape else None
        self._parity = bool(newlines_in_values and quote)
        self._buf = b""
        self._eof = False
        self._sp: Splitter | None = None
        self.line = 1

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(CHUNK_BYTES)
        if not data:
            self._eof = True
            return False
        if self._sp is None:
            while len(data) < 4 and (more := self._stream.read(CHUNK_BYTES)):
                data += more
            if self._strip_bom and data.startswith(_BOM):
                data = data[len(_BOM) :]
            cr, lf = data.find(b"\r"), data.find(b"\n")
            nl = b"\r" if lf < 0 and cr >= 0 else b"\n"
            self._sp = Splitter(nl, self._quote, self._escape, self._parity)
        self._buf += data
        return True

    @property
    def splitter(self) -> Splitter:
        return self._sp or Splitter(b"\n", self._quote, self._escape, self._parity)

    def _first(self, *, consume: bool) -> bytes | None:
        while True:
            end = self.splitter.first_end(self._buf) if self._sp else None
            if end is None:
                if len(self._buf) > self._limits.max_line_bytes:
                    raise SourceUnreadableError(
                        f"{self._label}: the first row is longer than {self._limits.max_line_bytes:,} "
                        "bytes (limits.max_line_bytes): no header or first record can be read"
                    )
                if self._fill():
                    continue
                if not self._buf:
                    return None
                end = len(self._buf)
            record = self._buf[:end]
            if not record.strip(b"\r\n"):  # empty lines before the first record are skipped
                self._buf = self._buf[end:]
                self.line += record.count(self.splitter.nl)
                continue
            if consume:
                self._buf = self._buf[end:]
                self.line += record.count(self.splitter.nl)
            return record

    def take_record(self) -> bytes | None:
        """The next record (header or a skipped row), removed from the stream; None at the end."""
        return self._first(consume=True)

    def peek_record(self) -> bytes | None:
        """The next record, left in place."""
        return self._first(consume=False)

    def _chunk(self, data: bytes, *, by_lines: bool = False) -> Iterator[Chunk]:
        """``data`` as one chunk, with any physical line longer than the cap cut out as a bad row."""
        import numpy as np

        sp, lim = self.splitter, self._limits
        if len(data) <= lim.max_line_bytes + 1:  # no line in it can pass the cap: just count them
            yield Chunk(data, self.line, sp, by_lines=by_lines)
            self.line += count_byte(data, sp.nl)
            return
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == sp.nl[0]) + 1
        if ends.size == 0 or ends[-1] != len(data):
            ends = np.append(ends, len(data))
        starts = np.concatenate(([0], ends[:-1]))
        long = np.flatnonzero(ends - starts > lim.max_line_bytes + 1)  # + its terminator
        pos, first_line = 0, self.line
        for j in long.tolist():
            start, end = int(starts[j]), int(ends[j])
            if start > pos:
                yield Chunk(data[pos:start], first_line + data.count(sp.nl, 0, pos), sp, by_lines=by_lines)
            keep = data[start : min(end, start + lim.raw_excerpt_bytes)]
            yield Chunk(b"", first_line + j, sp, bad=BadRow("line_too_long", _strip_nl(keep), first_line + j))
            pos = end
        if pos < len(data):
            line = first_line if pos == 0 else first_line + data.count(sp.nl, 0, pos)
            yield Chunk(data[pos:] if pos else data, line, sp, by_lines=by_lines)
        self.line += int(ends.size) - (0 if data.endswith(sp.nl) else 1)

    def chunks(self) -> Iterator[Chunk]:
        """The rest of the stream as chunks of whole records (and capped bad rows), in order."""
        while True:
            more = self._fill()
            cut = self.splitter.last_end(self._buf)
            if cut:
                data, self._buf = self._buf[:cut], self._buf[cut:]
                yield from self._chunk(data)
            while len(self._buf) > self._limits.max_line_bytes and self.splitter.last_end(self._buf) == 0:
                yield from self._runaway()
            if not more:
                if self._buf:
                    yield from self._last(self._buf)
                    self._buf = b""
                return

    def _last(self, data: bytes) -> Iterator[Chunk]:
        """The records left at the end of the stream. If a quote is still open there, the lines
        from the record that opened it on are read one per record: only that line is lost to it."""
        sp = self.splitter
        if self._parity and sp.quotes(data, 0, len(data)) % 2:
            cut = sp.last_end(data)
            if cut:
                yield from self._chunk(data[:cut])
                data = data[cut:]
            yield Chunk(data, self.line, sp, by_lines=True, first_reason="malformed_row")
            self.line += count_byte(data, sp.nl)
            return
        yield from self._chunk(data)

    def _runaway(self) -> Iterator[Chunk]:
        lim, sp = self._limits, self.splitter
        first_nl = self._buf.find(sp.nl, 0, lim.max_line_bytes + 1)
        if self._parity and first_nl >= 0:
            # A quote opened on the first line never closes within the cap: the lines up to the cap
            # are read one per record (a quote inside a value, ``5" screen``, costs nothing).
            window = self._buf.rfind(sp.nl, 0, lim.max_line_bytes + 1) + 1
            data, self._buf = self._buf[:window], self._buf[window:]
            yield Chunk(data, self.line, sp, by_lines=True, first_reason="field_too_large")
            self.line += count_byte(data, sp.nl)
            return
        keep, line = self._buf[: lim.raw_excerpt_bytes], self.line
        while (p := self._buf.find(sp.nl)) < 0:
            self._buf = b""
            if not self._fill():
                break
        if p >= 0:
            self._buf = self._buf[p + 1 :]
        self.line += 1
        yield Chunk(b"", line, sp, bad=BadRow("line_too_long", keep, line))


def _strip_nl(record: bytes) -> bytes:
    return record[:-1].rstrip(b"\r") if record.endswith(b"\n") else record.rstrip(b"\r")
