"""The local-directory ledger store: the default `LedgerStore` backend.

Contract (see `provenance.ledger.store` for the interface):

    <ledger>/ledger.json          format marker and origin, written once
    <ledger>/entries.log          framed entry records (`framing`), append-only, fsync'd per append
    <ledger>/index/offsets.bin    byte offset of each record (8 bytes, big-endian)
    <ledger>/index/level-KK.bin   perfect-subtree hashes of level KK (32 bytes each)
    <ledger>/checkpoints/N.note   signed checkpoint notes, one file each, never rewritten
    <ledger>/lock                 held (flock) by the one writer

The entry log is the source of truth; `index/` is a cache derived from it. An append writes and
fsyncs the log first, then extends the index, so after a crash the index never runs ahead of
durable entries. Opening for writing repairs what a crash can leave: it trims index files to a
common length, rebuilds missing nodes, indexes whole records past the index, and truncates a
torn final record. It never repairs damage inside the indexed region: that is reported as
`LedgerCorruptError` so the evidence survives for `verify`. Deleting `index/` rebuilds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from provenance.exceptions import (
    LedgerBusyError,
    LedgerConfigError,
    LedgerCorruptError,
    LedgerStorageError,
)
from provenance.ledger.framing import (
    HEADER_SIZE,
    FrameError,
    frame_records,
    parse_record,
    scan_leaves,
)
from provenance.ledger.hasher import HASH_SIZE, RFC6962
from provenance.ledger.tree import CompactRange

__all__ = ["LocalStore"]

_LOG = logging.getLogger(__name__)
_FORMAT = "maestro-conductor/ledger/v1"
_NOTE = re.compile(r"(\d{10})\.note")


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_origin(origin: str) -> str:
    """Return `origin` if usable as a checkpoint origin and key name, else raise."""
    if not origin or "+" in origin or any(c.isspace() or ord(c) < 0x20 for c in origin):
        raise LedgerConfigError(
            f"ledger origin {origin!r} must be non-empty, without spaces or '+'"
        )
    return origin


class LocalStore:
    """A ledger stored in a local directory; use `LocalStore.open`."""

    kind = "local"

    def __init__(self, root: Path, origin: str, *, writable: bool) -> None:
        self.root = root
        self._origin = origin
        self._writable = writable
        self._lock_fd: int | None = None
        self._log_fd = -1
        self._offsets_fd = -1
        self._level_fds: list[int] = []
        self._counts: list[int] = []
        self._log_end = 0
        self.truncated_bytes = 0  # torn tail removed by the last recovery

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, root: Path, *, mode: Literal["write", "read"] = "write", origin: str | None = None
    ) -> LocalStore:
        """Open (for writing: create if absent, lock and recover) the ledger in `root`."""
        meta = root / "ledger.json"
        if not meta.exists():
            if mode == "read":
                raise LedgerConfigError(f"{root} is not a ledger (no ledger.json); check the path")
            cls._create(root, origin)
        try:
            doc = json.loads(meta.read_text(encoding="utf-8"))
            stored = check_origin(doc["origin"])
            if doc.get("format") != _FORMAT:
                raise LedgerConfigError(f"{meta} has format {doc.get('format')!r}, want {_FORMAT}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise LedgerConfigError(f"cannot read ledger metadata {meta}: {err}") from err
        if origin is not None and origin != stored:
            raise LedgerConfigError(f"ledger {root} has origin {stored!r}, not {origin!r}")
        store = cls(root, stored, writable=mode == "write")
        try:
            if store._writable:
                store._lock()
                store._recover()
            else:
                store._open_readonly()
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _create(root: Path, origin: str | None) -> None:
        if root.exists() and any(root.iterdir()):
            raise LedgerConfigError(f"{root} exists, is not empty and is not a ledger")
        root.mkdir(parents=True, exist_ok=True)
        (root / "index").mkdir()
        (root / "checkpoints").mkdir()
        (root / "entries.log").touch()
        name = check_origin(origin or f"maestro-conductor.local/ledger/{root.resolve().name}")
        tmp = root / "ledger.json.tmp"
        tmp.write_text(json.dumps({"format": _FORMAT, "origin": name}, indent=2) + "\n")
        os.replace(tmp, root / "ledger.json")
        _fsync_dir(root)

    def _lock(self) -> None:
        self._lock_fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise LedgerBusyError(
                f"ledger {self.root} is open for writing in another process; retry when it closes"
            ) from err

    def _level_path(self, level: int) -> Path:
        return self.root / "index" / f"level-{level:02d}.bin"

    def _open_readonly(self) -> None:
        self._log_fd = os.open(self.root / "entries.log", os.O_RDONLY)
        self._offsets_fd = self._open_index(self.root / "index" / "offsets.bin")
        level = 0
        while self._level_path(level).exists():
            self._level_fds.append(self._open_index(self._level_path(level)))
            self._counts.append(os.fstat(self._level_fds[-1]).st_size // HASH_SIZE)
            level += 1

    def _open_index(self, path: Path) -> int:
        if self._writable:
            path.parent.mkdir(exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return -1

    def _recover(self) -> None:
        self._log_fd = os.open(self.root / "entries.log", os.O_RDWR | os.O_CREAT, 0o644)
        self._offsets_fd = self._open_index(self.root / "index" / "offsets.bin")
        self._level_fds = [self._open_index(self._level_path(0))]
        count = min(
            os.fstat(self._offsets_fd).st_size // 8,
            os.fstat(self._level_fds[0]).st_size // HASH_SIZE,
        )
        self._counts = [count]
        self._log_end = self._end_of(count - 1) if count else 0
        os.ftruncate(self._offsets_fd, count * 8)
        os.ftruncate(self._level_fds[0], count * HASH_SIZE)
        level = 1
        while count >> level or self._level_path(level).exists():
            self._repair_level(level, count >> level)
            level += 1
        self._index_tail()

    def _end_of(self, index: int) -> int:
        """Check the last indexed record against the index; return the byte offset after it."""
        offset = struct.unpack(">Q", os.pread(self._offsets_fd, 8, index * 8))[0]
        try:
            payload = self._read_record(index, offset)
        except LedgerCorruptError as err:
            raise LedgerCorruptError(
                f"ledger {self.root}: the last indexed entry is damaged ({err}); "
                "run `verify` to locate the damage before writing again",
                index=index,
            ) from err
        if RFC6962.hash_leaf(payload) != self.node(0, index):
            raise LedgerCorruptError(
                f"ledger {self.root}: entry {index} does not match its indexed hash; "
                "run `verify` to locate the damage before writing again",
                index=index,
            )
        return offset + HEADER_SIZE + len(payload)

    def _repair_level(self, level: int, want: int) -> None:
        fd = self._open_index(self._level_path(level))
        self._level_fds.append(fd)
        have = os.fstat(fd).st_size // HASH_SIZE
        if have >= want:
            os.ftruncate(fd, want * HASH_SIZE)
        else:
            below = self.nodes(level - 1, 2 * have, 2 * want)
            children = [below[i : i + HASH_SIZE] for i in range(0, len(below), HASH_SIZE)]
            _pwrite_all(fd, b"".join(RFC6962.hash_level(children)), have * HASH_SIZE)
        self._counts.append(want)

    def _index_tail(self) -> None:
        """Index whole records written after the index (a crash between log and index writes)."""
        size = self._counts[0]
        compact = CompactRange.at(size, self.node)
        with open(self.root / "entries.log", "rb") as f:
            try:
                for offsets, leaves in scan_leaves(f, start=self._log_end, first_index=size):
                    self._write_index(offsets, compact.extend(leaves))
                self._log_end = os.fstat(self._log_fd).st_size  # a clean scan read it all
            except FrameError as err:
                self.truncated_bytes = os.fstat(self._log_fd).st_size - err.offset
                _LOG.warning(
                    "ledger %s: truncating %d bytes of a torn append at entry %d (%s)",
                    self.root,
                    self.truncated_bytes,
                    err.index,
                    err.reason,
                )
                os.ftruncate(self._log_fd, err.offset)
                os.fsync(self._log_fd)
                self._log_end = err.offset
        self.sync()

    # -- the LedgerStore interface -----------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        if self._writable or not self._counts:
            return self._counts[0] if self._counts else 0
        offsets = os.fstat(self._offsets_fd).st_size // 8 if self._offsets_fd >= 0 else 0
        return min(self._counts[0], offsets)

    def append(self, entries: Sequence[bytes], levels: Sequence[Sequence[bytes]]) -> None:
        if not self._writable:
            raise LedgerConfigError(f"ledger {self.root} is open read-only; open it for writing")
        blob, rel = frame_records(entries, levels[0])
        start = self._log_end
        try:
            _pwrite_all(self._log_fd, blob, start)
            os.fsync(self._log_fd)
        except OSError as err:
            # If this fails too, recovery on the next open truncates the torn record instead.
            with contextlib.suppress(OSError):
                os.ftruncate(self._log_fd, start)
            log = self.root / "entries.log"
            raise LedgerStorageError(f"cannot append to {log}: {err}") from err
        self._log_end = start + len(blob)
        self._write_index([start + r for r in rel], levels)

    def _write_index(self, offsets: list[int], levels: Sequence[Sequence[bytes]]) -> None:
        _pwrite_all(
            self._offsets_fd, struct.pack(f">{len(offsets)}Q", *offsets), self._counts[0] * 8
        )
        for level, nodes in enumerate(levels):
            if level == len(self._level_fds):
                self._level_fds.append(self._open_index(self._level_path(level)))
                self._counts.append(0)
            _pwrite_all(self._level_fds[level], b"".join(nodes), self._counts[level] * HASH_SIZE)
            self._counts[level] += len(nodes)

    def _read_record(self, index: int, offset: int) -> bytes:
        header = os.pread(self._log_fd, HEADER_SIZE, offset)
        length = struct.unpack(">I", header[4:])[0] if len(header) == HEADER_SIZE else 0
        try:
            return parse_record(
                header + os.pread(self._log_fd, length, offset + HEADER_SIZE),
                index=index,
                offset=offset,
            )
        except FrameError as err:
            raise LedgerCorruptError(f"ledger {self.root}: entry {err}", index=index) from err

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise LedgerConfigError(f"entry {index} does not exist: the ledger has {self.size}")
        offset = struct.unpack(">Q", os.pread(self._offsets_fd, 8, index * 8))[0]
        return self._read_record(index, offset)

    def scan_leaves(self, *, batch: int = 65536) -> Iterator[list[bytes]]:
        with open(self.root / "entries.log", "rb") as f:
            try:
                for _, leaves in scan_leaves(f, batch=batch):
                    yield leaves
            except FrameError as err:
                raise LedgerCorruptError(f"entry {err}", index=err.index) from err

    def node(self, level: int, index: int) -> bytes:
        data = self.nodes(level, index, index + 1)
        if len(data) != HASH_SIZE:
            raise LedgerCorruptError(
                f"ledger {self.root}: node {index} of level {level} is missing from the index; "
                "reopen the ledger for writing to rebuild it",
                index=index,
                kind="cache",
            )
        return data

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        if level >= len(self._level_fds) or self._level_fds[level] < 0 or stop <= start:
            return b""
        return os.pread(self._level_fds[level], (stop - start) * HASH_SIZE, start * HASH_SIZE)

    def node_count(self, level: int) -> int:
        if level >= len(self._level_fds) or self._level_fds[level] < 0:
            return 0
        return os.fstat(self._level_fds[level]).st_size // HASH_SIZE

    def add_checkpoint(self, note: bytes) -> int:
        numbers = self.checkpoint_numbers()
        number = numbers[-1] + 1 if numbers else 0
        folder = self.root / "checkpoints"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _pwrite_all(fd, note, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, folder / f"{number:010d}.note")  # never overwrites an existing one
        finally:
            tmp.unlink()
        _fsync_dir(folder)
        return number

    def checkpoint_numbers(self) -> list[int]:
        folder = self.root / "checkpoints"
        if not folder.is_dir():
            return []
        found = (_NOTE.fullmatch(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def read_checkpoint(self, number: int) -> bytes:
        try:
            return (self.root / "checkpoints" / f"{number:010d}.note").read_bytes()
        except OSError as err:
            raise LedgerCorruptError(
                f"checkpoint {number} of {self.root} cannot be read: {err}",
                index=number,
                kind="checkpoint",
            ) from err

    def sync(self) -> None:
        if self._writable:
            for fd in (self._log_fd, self._offsets_fd, *self._level_fds):
                if fd >= 0:
                    os.fsync(fd)

    def close(self) -> None:
        if self._writable and self._log_fd >= 0:
            self.sync()
        for fd in (self._log_fd, self._offsets_fd, *self._level_fds):
            if fd >= 0:
                os.close(fd)
        self._log_fd, self._offsets_fd, self._level_fds = -1, -1, []
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
