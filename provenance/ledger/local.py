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
from provenance.ledger.hasher import RFC6962
from provenance.ledger.local_checkpoints import CheckpointDir, fsync_dir
from provenance.ledger.local_index import NodeIndex, pwrite_all
from provenance.ledger.tree import CompactRange

__all__ = ["LocalStore"]

_LOG = logging.getLogger(__name__)
_FORMAT = "maestro-conductor/ledger/v1"


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
        self._index: NodeIndex | None = None
        self._checkpoints = CheckpointDir(root / "checkpoints")
        self._log_end = 0
        self._broken: str | None = None  # set when an append failed half-way
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
            store._log_fd = store._open_log()
            store._index = NodeIndex(root / "index", writable=store._writable)
            if store._writable:
                store._recover()
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
        fsync_dir(root)

    def _open_log(self) -> int:
        try:
            return os.open(self.root / "entries.log", os.O_RDWR if self._writable else os.O_RDONLY)
        except FileNotFoundError as err:
            raise LedgerCorruptError(
                f"ledger {self.root} has no entries.log: the entry log was deleted", index=0
            ) from err

    def _lock(self) -> None:
        self._lock_fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise LedgerBusyError(
                f"ledger {self.root} is open for writing in another process; retry when it closes"
            ) from err

    @property
    def index(self) -> NodeIndex:
        if self._index is None:
            raise LedgerConfigError(f"ledger {self.root} is closed; open it again")
        return self._index

    def _recover(self) -> None:
        self._checkpoints.remove_stale()
        count = self.index.size
        self._log_end = self._end_of(count - 1) if count else 0
        self.index.repair()
        self._index_tail()

    def _end_of(self, index: int) -> int:
        """Check the last indexed record against the index; return the byte offset after it."""
        try:
            payload = self._read_record(index, self.index.offset(index))
        except LedgerCorruptError as err:
            raise LedgerCorruptError(
                f"ledger {self.root}: the last indexed entry is damaged ({err}); "
                "run `verify` to locate the damage before writing again",
                index=index,
            ) from err
        if RFC6962.hash_leaf(payload) != self.index.node(0, index):
            raise LedgerCorruptError(
                f"ledger {self.root}: entry {index} does not match its indexed hash; "
                "run `verify` to locate the damage before writing again",
                index=index,
            )
        return self.index.offset(index) + HEADER_SIZE + len(payload)

    def _index_tail(self) -> None:
        """Index whole records written after the index (a crash between log and index writes)."""
        size = self.index.size
        compact = CompactRange.at(size, self.index.node)
        with open(self.root / "entries.log", "rb") as f:
            try:
                for offsets, leaves in scan_leaves(f, start=self._log_end, first_index=size):
                    self.index.append(offsets, compact.extend(leaves))
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
        return self.index.size

    def append(self, entries: Sequence[bytes], levels: Sequence[Sequence[bytes]]) -> None:
        if not self._writable:
            raise LedgerConfigError(f"ledger {self.root} is open read-only; open it for writing")
        if self._broken:
            raise LedgerStorageError(
                f"ledger {self.root}: an earlier append failed ({self._broken}); close and "
                "reopen the ledger, which recovers the index"
            )
        blob, rel = frame_records(entries, levels[0])
        start = self._log_end
        try:
            pwrite_all(self._log_fd, blob, start)
            os.fsync(self._log_fd)
        except OSError as err:
            # If this fails too, recovery on the next open truncates the torn record instead.
            with contextlib.suppress(OSError):
                os.ftruncate(self._log_fd, start)
            log = self.root / "entries.log"
            raise LedgerStorageError(f"cannot append to {log}: {err}") from err
        self._log_end = start + len(blob)
        try:
            self.index.append([start + r for r in rel], levels)
        except OSError as err:
            # The entries are durable; only the derived index is behind. Reopening rebuilds it.
            self._broken = str(err)
            raise LedgerStorageError(
                f"ledger {self.root}: entries were written but the index was not ({err}); "
                "close and reopen the ledger"
            ) from err

    def _read_record(self, index: int, offset: int) -> bytes:
        header = os.pread(self._log_fd, HEADER_SIZE, offset)
        length = int.from_bytes(header[4:], "big") if len(header) == HEADER_SIZE else 0
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
        return self._read_record(index, self.index.offset(index))

    def scan_leaves(self, *, batch: int = 65536) -> Iterator[list[bytes]]:
        with open(self.root / "entries.log", "rb") as f:
            try:
                for _, leaves in scan_leaves(f, batch=batch):
                    yield leaves
            except FrameError as err:
                raise LedgerCorruptError(f"entry {err}", index=err.index) from err

    def node(self, level: int, index: int) -> bytes:
        return self.index.node(level, index)

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        return self.index.nodes(level, start, stop)

    def node_count(self, level: int) -> int:
        return self.index.node_count(level)

    def add_checkpoint(self, note: bytes) -> int:
        return self._checkpoints.add(note)

    def checkpoint_numbers(self) -> list[int]:
        return self._checkpoints.numbers()

    def read_checkpoint(self, number: int) -> bytes:
        return self._checkpoints.read(number)

    def sync(self) -> None:
        if self._writable and self._log_fd >= 0:
            os.fsync(self._log_fd)
            self.index.sync()

    def close(self) -> None:
        if self._index is not None:
            if self._writable and self._log_fd >= 0:
                self.sync()
            self._index.close()
            self._index = None
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
