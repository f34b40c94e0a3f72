"""Record framing for the local entry log: length-prefixed records with a per-record checksum.

Contract: a record is `check (4 bytes) || length (4 bytes, big-endian) || payload`, where
`check` is the first four bytes of the payload's RFC 6962 leaf hash, SHA-256(0x00 || payload).
A record is valid only if all of it is present and the check matches, so a write torn by a
crash (or any flipped byte, the length field included: a wrong length selects other bytes) is
detected at the record it hit, and the records before it are untouched. Using the leaf hash as
the checksum means every reader that checks framing gets the leaf hashes for free. The check
guards against accidents; deliberate tampering is caught by the Merkle tree and the signed
checkpoints.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["HEADER_SIZE", "MAX_ENTRY_SIZE", "FrameError", "frame_records", "scan_leaves"]

_HEADER = struct.Struct(">4sI")
HEADER_SIZE = _HEADER.size
MAX_ENTRY_SIZE = 16 << 20
_LEN = struct.Struct(">I")


@dataclass
class FrameError(Exception):
    """A record at `offset` (the `index`-th record scanned) is torn or damaged."""

    index: int
    offset: int
    reason: str
    incomplete: bool

    def __str__(self) -> str:
        return f"record {self.index} at byte {self.offset}: {self.reason}"


def frame_records(
    entries: Sequence[bytes], leaf_hashes: Sequence[bytes]
) -> tuple[bytes, list[int]]:
    """Frame `entries` (with their leaf hashes); return the bytes and each record's offset."""
    parts: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    pack_len = _LEN.pack
    for entry, leaf in zip(entries, leaf_hashes, strict=True):
        parts += (leaf[:4], pack_len(len(entry)), entry)
        offsets.append(pos)
        pos += HEADER_SIZE + len(entry)
    return b"".join(parts), offsets


def parse_record(data: bytes, *, index: int, offset: int) -> bytes:
    """Return the payload of the single record `data` (as read at `offset`), or raise FrameError."""
    if len(data) < HEADER_SIZE:
        raise FrameError(index, offset, "record header is incomplete", incomplete=True)
    check, length = _HEADER.unpack_from(data)
    if length > MAX_ENTRY_SIZE:
        raise FrameError(index, offset, f"record length {length} is implausible", False)
    if len(data) < HEADER_SIZE + length:
        raise FrameError(index, offset, "record is incomplete", incomplete=True)
    payload = bytes(data[HEADER_SIZE : HEADER_SIZE + length])
    if not hashlib.sha256(b"\x00" + payload).digest().startswith(check):
        raise FrameError(index, offset, "record checksum mismatch", incomplete=False)
    return payload


def scan_leaves(
    f: BinaryIO,
    *,
    start: int = 0,
    first_index: int = 0,
    batch: int = 65536,
    chunk: int = 8 << 20,
) -> Iterator[tuple[list[int], list[bytes]]]:
    """Read records sequentially from byte `start`; yield `(offsets, leaf_hashes)` batches.

    Stops cleanly at end of file. On a torn or damaged record it first yields the valid records
    read so far, then raises FrameError for the bad one.
    """
    f.seek(start)
    buf = f.read(chunk)
    base, pos, index = start, 0, first_index  # base: file offset of buf[0]
    offsets: list[int] = []
    leaves: list[bytes] = []
    unpack, sha = _HEADER.unpack_from, hashlib.sha256
    while True:
        if len(buf) - pos < HEADER_SIZE:
            buf, base, pos = buf[pos:] + f.read(chunk), base + pos, 0
            if not buf:
                break
            if len(buf) < HEADER_SIZE:
                yield offsets, leaves
                raise FrameError(index, base, "record header is incomplete", incomplete=True)
        check, length = unpack(buf, pos)
        end = pos + HEADER_SIZE + length
        if end > len(buf):
            if length > MAX_ENTRY_SIZE:
                yield offsets, leaves
                raise FrameError(index, base + pos, f"record length {length} is implausible", False)
            buf, base, pos = buf[pos:] + f.read(max(chunk, end - pos)), base + pos, 0
            end = HEADER_SIZE + length
            if end > len(buf):
                yield offsets, leaves
                raise FrameError(index, base, "record is incomplete", incomplete=True)
        leaf = sha(b"\x00" + buf[pos + HEADER_SIZE : end]).digest()
        if not leaf.startswith(check):
            yield offsets, leaves
            raise FrameError(index, base + pos, "record checksum mismatch", incomplete=False)
        offsets.append(base + pos)
        leaves.append(leaf)
        pos = end
        index += 1
        if len(leaves) >= batch:
            yield offsets, leaves
            offsets, leaves = [], []
    if leaves:
        yield offsets, leaves
