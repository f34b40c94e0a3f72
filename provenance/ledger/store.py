"""The storage interface behind a ledger, and the factory that picks a backend.

Contract for implementers (the local directory store is the default; `s3://bucket/prefix`
selects the S3 object store, `provenance.ledger.s3`):

- `append` is durable when it returns: the entries are stored whole, in order, after all earlier
  ones; after a crash each entry is either fully present or absent. The node hashes passed with
  them are a derived cache: a backend may persist them lazily, but must be able to rebuild them.
- `size` counts committed entries; `node(level, index)` returns the stored hash of the perfect
  subtree covering leaves `[index * 2**level, (index + 1) * 2**level)` for every such subtree
  inside `[0, size)`.
- `scan_leaves` reads entries in order straight from storage, checking their framing, and
  returns their leaf hashes recomputed from the entry bytes; it never trusts the node cache. On
  damage it raises `LedgerCorruptError` with the first bad index.
- Checkpoints are an append-only list of signed notes numbered from 0.
- Reads never repair; only a store opened for writing recovers from an interrupted append.
- A store that several processes may write at once, without a lock (S3), also has
  `refresh() -> int`, which loads what other writers appended and returns the new size. Its
  `append` and `add_checkpoint` raise `LedgerConflictError` when another writer took the place
  first; the store has then caught up, and the caller rebuilds its view from `size` and `node`
  (re-reading the latest checkpoint) and retries. `add_checkpoint` writes after the latest
  number the last `checkpoint_numbers()` call showed. The local store has one writer at a time
  (the lock), so it has no `refresh` and never raises `LedgerConflictError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from provenance.exceptions import LedgerBusyError, LedgerConfigError

__all__ = ["LedgerConflictError", "LedgerStore", "open_store"]


class LedgerConflictError(LedgerBusyError):
    """Another writer appended (or checkpointed) at the place this call was about to use; the
    store has caught up. Retryable: rebuild the view from the store and try again (`Ledger`
    does this itself a bounded number of times)."""


@runtime_checkable
class LedgerStore(Protocol):
    """Durable storage of a ledger's entries, node-hash cache and checkpoints."""

    kind: str

    @property
    def origin(self) -> str:
        """The ledger's origin line (also its signing key's name)."""
        ...

    @property
    def size(self) -> int:
        """Number of committed entries."""
        ...

    def append(self, entries: Sequence[bytes], levels: Sequence[Sequence[bytes]]) -> None:
        """Durably append entries and the perfect node hashes they complete (per level)."""
        ...

    def entry(self, index: int) -> bytes:
        """Return the bytes of entry `index`."""
        ...

    def scan_leaves(self, *, batch: int = 65536) -> Iterator[list[bytes]]:
        """Yield the leaf hashes of all stored entries, in order and in batches, recomputed
        from the entry bytes while verifying their framing."""
        ...

    def node(self, level: int, index: int) -> bytes:
        """Return a stored perfect-subtree hash."""
        ...

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        """Return stored hashes `[start, stop)` of `level`, concatenated (shorter if missing)."""
        ...

    def node_count(self, level: int) -> int:
        """Number of hashes stored at `level`."""
        ...

    def add_checkpoint(self, note: bytes) -> int:
        """Durably append a signed checkpoint note; return its number."""
        ...

    def checkpoint_numbers(self) -> list[int]:
        """Numbers of the stored checkpoints, ascending."""
        ...

    def read_checkpoint(self, number: int) -> bytes:
        """Return the stored note bytes of checkpoint `number`."""
        ...

    def sync(self) -> None:
        """Make everything written so far durable, the node cache included."""
        ...

    def close(self) -> None:
        """Release files and locks; the store is unusable afterwards."""
        ...


def open_store(
    location: str | Path,
    *,
    mode: Literal["write", "read"] = "write",
    origin: str | None = None,
) -> LedgerStore:
    """Open the ledger storage at `location` with the backend its form selects.

    Args:
        location: a local directory path (the default backend), or `s3://bucket/prefix` for
            the S3 backend (credentials, region and `AWS_ENDPOINT_URL` from the AWS default
            chain; see `provenance.ledger.s3`).
        mode: "write" takes the writer lock and recovers from an interrupted append (S3: may
            create the ledger; several writers may append at once); "read" changes nothing.
        origin: the origin for a new ledger; for an existing one it must match if given.
    """
    text = str(location)
    if text.startswith("s3://"):
        from provenance.ledger.s3 import S3Store

        return S3Store.open(text, mode=mode, origin=origin)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise LedgerConfigError(
            f"ledger location {text!r} uses the {scheme!r} backend, which is not available; "
            "use a local directory path or s3://bucket/prefix"
        )
    from provenance.ledger.local import LocalStore

    return LocalStore.open(Path(text), mode=mode, origin=origin)
