"""The spool: a pull's records on local disk as NDJSON, written page by page, read back in batches.

:class:`SpoolWriter` appends records to ``<name>.ndjson.part`` while hashing the bytes it writes,
and on :meth:`~SpoolWriter.finish` fsyncs and renames the file to ``.ndjson``: a finished spool is
complete, and its sha256/size are those of the final file. A failed pull calls
:meth:`~SpoolWriter.abort` (the context manager does it), so no partial spool is ever returned.

:func:`read_spool` streams a spool back as ``pyarrow.RecordBatch`` objects of at most
``batch_rows`` rows, every column ``string`` (see :func:`connectors.http_pull.records.cell`), with
the same columns in every batch (the union of the records' keys, in first-seen order).

Left over after a kill: a ``.part`` file (the pull never finished: never data), a finished spool
without its description (killed before :meth:`PullResult.save`: never committed, never data) or a
finished spool with its ``.pull.json`` description (a complete pull whose commit may or may not
have happened). :func:`clear_unfinished` removes the first two kinds; :func:`finished_pulls` lists
the third for the caller to settle against the lake. Only call them while holding the source's
lock (:class:`SpoolLock`): a concurrent pull's files look exactly like a dead one's.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import DEFAULT_BATCH_ROWS
from connectors.http_pull.records import cell, loads, to_json

if TYPE_CHECKING:
    import pyarrow as pa

SIDECAR_SUFFIX = ".pull.json"
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class SpoolFile:
    path: Path
    sha256: str
    size: int
    records: int
    columns: tuple[str, ...]


class SpoolWriter:
    """Write one pull's records to a new spool file in ``spool_dir``."""

    def __init__(self, spool_dir: str | Path, *, source: str) -> None:
        directory = Path(spool_dir)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = directory / f"{source}-{stamp}-{uuid.uuid4().hex[:8]}.ndjson"
        self._part = self.path.with_name(self.path.name + ".part")
        self._file = open(self._part, "wb")  # noqa: SIM115 - closed in finish()/abort()
        self._hash = hashlib.sha256()
        self._size = 0
        self._records = 0
        self._columns: dict[str, None] = {}  # an ordered set

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, record: dict[str, Any]) -> None:
        line = (to_json(record) + "\n").encode("utf-8")
        self._file.write(line)
        self._hash.update(line)
        self._size += len(line)
        self._records += 1
        for key in record:
            self._columns.setdefault(key)

    def finish(self) -> SpoolFile:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._part, self.path)
        return SpoolFile(
            self.path, self._hash.hexdigest(), self._size, self._records, tuple(self._columns)
        )

    def abort(self) -> None:
        self._file.close()
        self._part.unlink(missing_ok=True)


def finished_pulls(spool_dir: str | Path) -> list[Path]:
    """Descriptions (``.pull.json``) of finished spools in ``spool_dir``, oldest first."""
    directory = Path(spool_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*.ndjson{SIDECAR_SUFFIX}") if p.is_file())


def clear_unfinished(spool_dir: str | Path) -> list[Path]:
    """Remove what killed pulls left that is not a finished, described spool; return it."""
    directory = Path(spool_dir)
    if not directory.is_dir():
        return []
    removed = []
    for path in directory.iterdir():
        name = path.name
        if not path.is_file() or name == LOCK_NAME:
            continue
        if name.endswith(SIDECAR_SUFFIX):
            spool_gone = not path.with_name(name.removesuffix(SIDECAR_SUFFIX)).exists()
            stale = spool_gone
        elif name.endswith(".ndjson"):
            stale = not path.with_name(name + SIDECAR_SUFFIX).exists()
        else:
            stale = name.endswith((".part", ".tmp"))
        if stale:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_pull(spool: Path) -> None:
    """Delete a spool and its description (description last, so a crash leaves no orphan)."""
    spool.unlink(missing_ok=True)
    spool.with_name(spool.name + SIDECAR_SUFFIX).unlink(missing_ok=True)


class SpoolBusyError(TimeoutError):
    """Another pull of the same source held the spool folder's lock for longer than the wait."""


class SpoolLock:
    """An exclusive lock on one source's spool folder: one pull of a source at a time here.

    ``flock`` on ``<spool_dir>/.lock``; the kernel releases it when the holder dies, so a killed
    pull never leaves it held. Waits up to ``wait_s`` (polling).
    It serialises pulls that share this folder (one machine); see the package README. Raises
    :class:`SpoolBusyError` when the wait runs out.
    """

    def __init__(self, spool_dir: str | Path, *, wait_s: float = 60.0) -> None:
        self.path = Path(spool_dir) / LOCK_NAME
        self.wait_s = wait_s
        self._fd: int | None = None

    def __enter__(self) -> SpoolLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise SpoolBusyError(
                        f"another pull holds {self.path} for more than {self.wait_s:g} s"
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def spool_columns(path: str | Path) -> tuple[str, ...]:
    """The union of the spool's record keys in first-seen order (one streaming pass)."""
    columns: dict[str, None] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                for key in loads(line):
                    columns.setdefault(key)
    return tuple(columns)


def read_spool(
    path: str | Path, batch_rows: int = DEFAULT_BATCH_ROWS, *, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream a spool as record batches of at most ``batch_rows`` rows, all columns ``string``.

    ``columns`` (e.g. ``PullResult.columns``) saves a pass over the file; without it the columns
    are collected first. An empty spool yields no batches.
    """
    import pyarrow as pa

    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    names = list(columns) if columns is not None else list(spool_columns(path))
    known = set(names)
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    buffers: list[list[str | None]] = [[] for _ in names]
    rows = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = loads(line)
            extra = set(record) - known
            if extra:
                raise ValueError(f"spool {path} has keys not in columns: {sorted(extra)}")
            for buf, name in zip(buffers, names, strict=True):
                buf.append(cell(record.get(name)))
            rows += 1
            if rows == batch_rows:
                yield _batch(buffers, schema)
                buffers, rows = [[] for _ in names], 0
    if rows:
        yield _batch(buffers, schema)


def _batch(buffers: list[list[str | None]], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = [pa.array(buf, type=pa.string()) for buf in buffers]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
