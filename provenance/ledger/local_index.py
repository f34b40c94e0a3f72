"""The node index of the local store: record offsets and stored perfect-subtree hashes.

Contract: `index/offsets.bin` holds the byte offset of each entry record (8 bytes, big-endian);
`index/level-KK.bin` holds the hashes of the perfect subtrees of level KK (32 bytes each, level
0 being the leaf hashes). The index is derived from the entry log and may lag it after a crash
(never lead it: the log is fsync'd first). `repair` trims every file to the longest consistent
prefix and rebuilds missing upper-level nodes from the level below; the caller then re-indexes
the log's tail. Reads are positional (`pread`), so a proof costs a few syscalls.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

from provenance.exceptions import LedgerCorruptError
from provenance.ledger.hasher import HASH_SIZE, RFC6962

__all__ = ["NodeIndex"]


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset` (pwrite may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class NodeIndex:
    """Offsets and node hashes of one local ledger, open for reading or writing."""

    def __init__(self, folder: Path, *, writable: bool) -> None:
        """Open the index files in `folder` (created when `writable`)."""
        self.folder = folder
        self.writable = writable
        if writable:
            folder.mkdir(exist_ok=True)
        self._offsets = self._open(folder / "offsets.bin")
        self._levels: list[int] = []
        self._counts: list[int] = []
        level = 0
        while level == 0 or self._path(level).exists():
            self._levels.append(self._open(self._path(level)))
            self._counts.append(self._stored(level))
            level += 1

    def _path(self, level: int) -> Path:
        return self.folder / f"level-{level:02d}.bin"

    def _open(self, path: Path) -> int:
        if self.writable:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return -1

    def _stored(self, level: int) -> int:
        fd = self._levels[level] if level < len(self._levels) else -1
        return os.fstat(fd).st_size // HASH_SIZE if fd >= 0 else 0

    @property
    def size(self) -> int:
        """Number of entries the index covers (offsets and leaf hashes both present)."""
        offsets = os.fstat(self._offsets).st_size // 8 if self._offsets >= 0 else 0
        return min(offsets, self._counts[0])

    def offset(self, index: int) -> int:
        """Byte offset of entry `index`'s record in the log."""
        return int(struct.unpack(">Q", os.pread(self._offsets, 8, index * 8))[0])

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        """Stored hashes `[start, stop)` of `level`, concatenated (shorter where missing)."""
        if level >= len(self._levels) or self._levels[level] < 0 or stop <= start:
            return b""
        return os.pread(self._levels[level], (stop - start) * HASH_SIZE, start * HASH_SIZE)

    def node(self, level: int, index: int) -> bytes:
        """One stored hash; raises LedgerCorruptError (kind "cache") if it is missing."""
        data = self.nodes(level, index, index + 1)
        if len(data) != HASH_SIZE:
            raise LedgerCorruptError(
                f"index {self.folder}: node {index} of level {level} is missing; "
                "reopen the ledger for writing to rebuild it",
                index=index,
                kind="cache",
            )
        return data

    def node_count(self, level: int) -> int:
        """Number of hashes stored at `level`."""
        return self._stored(level)

    def repair(self) -> int:
        """Trim all files to the longest consistent prefix, rebuild upper levels; return it."""
        count = self.size
        os.ftruncate(self._offsets, count * 8)
        os.ftruncate(self._levels[0], count * HASH_SIZE)
        self._counts = [count]
        level = 1
        while count >> level or self._path(level).exists():
            if level == len(self._levels):
                self._levels.append(self._open(self._path(level)))
            fd, want, have = self._levels[level], count >> level, self._stored(level)
            if have >= want:
                os.ftruncate(fd, want * HASH_SIZE)
            else:
                below = self.nodes(level - 1, 2 * have, 2 * want)
                children = [below[i : i + HASH_SIZE] for i in range(0, len(below), HASH_SIZE)]
                pwrite_all(fd, b"".join(RFC6962.hash_level(children)), have * HASH_SIZE)
            self._counts.append(want)
            level += 1
        return count

    def append(self, offsets: list[int], levels: Sequence[Sequence[bytes]]) -> None:
        """Record new entries' offsets and the perfect nodes they complete, per level."""
        pwrite_all(self._offsets, struct.pack(f">{len(offsets)}Q", *offsets), self._counts[0] * 8)
        for level, nodes in enumerate(levels):
            if level == len(self._levels):
                self._levels.append(self._open(self._path(level)))
                self._counts.append(0)
            pwrite_all(self._levels[level], b"".join(nodes), self._counts[level] * HASH_SIZE)
            self._counts[level] += len(nodes)

    def sync(self) -> None:
        """fsync every index file."""
        for fd in (self._offsets, *self._levels):
            if fd >= 0:
                os.fsync(fd)

    def close(self) -> None:
        """Close every index file."""
        for fd in (self._offsets, *self._levels):
            if fd >= 0:
                os.close(fd)
        self._offsets, self._levels = -1, []
