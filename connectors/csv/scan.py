"""Vectorised scans of a chunk that pyarrow could not parse whole: where its records are, and which
of them are certainly not rows (so the rest can go back to pyarrow in long runs).

Both run in numpy and C (``bytes`` methods, the UTF-8 codec), never a Python loop per byte or per
record, so a file with a bad row every few lines still reads at a few hundred thousand rows a second.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np

from connectors.csv.chunks import Chunk


@dataclass(frozen=True)
class Spans:
    """The non-empty records of a chunk: byte ``starts``/``ends`` and the physical ``lines`` they start on."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.size)


def _positions(view: np.ndarray, byte: int) -> np.ndarray:
    return np.flatnonzero(view == byte)


def record_spans(chunk: Chunk) -> Spans:
    """Every non-empty record of ``chunk``: one per line, or with quote parity one per record whose
    quotes balance (the same rule as the chunker)."""
    data, sp = chunk.data, chunk.splitter
    view = np.frombuffer(data, np.uint8)
    ends = _positions(view, sp.nl[0]) + 1
    if ends.size == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    line_of_end = np.arange(ends.size)  # line i (0-based in the chunk) ends at ends[i]
    if sp.parity and not chunk.by_lines and sp.quote is not None:
        quotes = _positions(view, sp.quote[0])
        if sp.escape is not None and quotes.size:
            escaped = quotes[(quotes > 0) & (view[np.maximum(quotes - 1, 0)] == sp.escape[0])]
            quotes = np.setdiff1d(quotes, escaped, assume_unique=True)
        even = np.searchsorted(quotes, ends) % 2 == 0
        even[-1] = True  # the chunk ends a record (an open quote there is the reader's to judge)
        ends, line_of_end = ends[even], line_of_end[even]
    starts = np.concatenate(([0], ends[:-1]))
    first_line = np.concatenate(([0], line_of_end[:-1] + 1))
    content = ends - starts
    last = view[np.maximum(ends - 1, 0)]
    content = content - ((last == ord("\n")) | (last == ord("\r")))  # its terminator
    before = view[np.maximum(ends - 2, 0)]
    content = content - ((content > 0) & (last == ord("\n")) & (before == ord("\r")))  # CR of a CRLF
    keep = content > 0
    return Spans(starts[keep], ends[keep], first_line[keep] + chunk.line)


def invalid_utf8(data: bytes) -> np.ndarray:
    """Offsets of the bytes that are not valid UTF-8 (the codec finds each, in C)."""
    found, pos, mv = [], 0, memoryview(data)
    while pos < len(data):
        try:
            codecs.utf_8_decode(mv[pos:], "strict", True)
            break
        except UnicodeDecodeError as err:
            found.append(pos + err.start)
            pos += err.end
    return np.asarray(found, dtype=np.int64)


def _unescaped(view: np.ndarray, positions: np.ndarray, escape: str | None) -> np.ndarray:
    if escape is None or len(escape.encode()) != 1 or not positions.size:
        return positions
    return positions[view[np.maximum(positions - 1, 0)] != escape.encode()[0]]


def suspects(
    data: bytes, spans: Spans, *, delimiter: str, quote: str | None, escape: str | None, columns: int
) -> np.ndarray:
    """True for each record that is not a row of ``columns`` fields as far as a vectorised count
    tells: it holds a NUL byte or invalid UTF-8, or its delimiters outside quotes (RFC 4180 quote
    parity) are not ``columns - 1``. A record wrongly suspected is only read by Python, which judges
    it exactly; one wrongly trusted makes pyarrow fail its run, which is then split in halves."""
    view = np.frombuffer(data, np.uint8)
    starts, ends = spans.starts, spans.ends

    def per_record(positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(positions, ends) - np.searchsorted(positions, starts)

    bad = per_record(_positions(view, 0)) > 0
    bad |= per_record(invalid_utf8(data)) > 0
    if len(delimiter.encode()) != 1:
        return bad
    delims = _unescaped(view, _positions(view, delimiter.encode()[0]), escape)
    if quote is not None and len(quote.encode()) == 1:
        quotes = _unescaped(view, _positions(view, quote.encode()[0]), escape)
        record = np.searchsorted(ends, delims, side="right")
        inside = (
            np.searchsorted(quotes, delims)
            - np.searchsorted(quotes, starts)[np.minimum(record, len(spans) - 1)]
        ) % 2 == 1
        delims = delims[~inside]
    fields = per_record(delims) + 1
    return bad | (fields != columns)
