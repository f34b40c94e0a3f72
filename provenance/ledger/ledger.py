"""The provenance ledger: an append-only Merkle log of opaque entries with signed checkpoints.

Contract: entries are opaque bytes; entry `i` is leaf `i` of an RFC 6962/9162 Merkle tree.
`append`/`append_many` return only once the entries are durable. A checkpoint signs the
origin, size and root of the tree at that moment; the ledger never signs a checkpoint that is
inconsistent with its latest one. Proofs are built from the stored node cache in O(log n).
With a store several processes write at once (S3), an append or checkpoint that another writer
beat catches up with the store and retries (bounded); a ledger's `size` is as of its last write.

No PII: callers put content hashes and references (dataset URIs, run IDs, sha256 digests of
files or rows) in entries, never row values or personal data. The log cannot forget, so
anything personal written into it could never be erased.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from provenance.exceptions import LedgerConfigError, LedgerCorruptError, NoteError
from provenance.ledger.checkpoint import Checkpoint, SignedCheckpoint
from provenance.ledger.framing import MAX_ENTRY_SIZE
from provenance.ledger.hasher import RFC6962
from provenance.ledger.keys import load_or_create_signer
from provenance.ledger.note import SignedNote, Signer, Verifier
from provenance.ledger.proofs import ConsistencyProof, InclusionProof
from provenance.ledger.store import LedgerConflictError, LedgerStore, open_store
from provenance.ledger.tree import CompactRange, consistency_path, inclusion_path, range_hash
from provenance.ledger.verify import VerifyReport, verify_ledger

__all__ = ["Ledger"]

_MAX_CONFLICTS = 100  # retries of one append or checkpoint that other writers keep beating


class Ledger:
    """An append-only, verifiable log of opaque entries.

    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = Path(tempfile.mkdtemp())
    >>> with Ledger.open(tmp / "ledger", key_dir=tmp / "keys") as ledger:
    ...     first = ledger.append_many([b'{"run": "r1", "sha256": "ab12"}', b'{"run": "r2"}'])
    ...     signed = ledger.checkpoint()
    ...     proof = ledger.inclusion_proof(1, signed.checkpoint.size)
    ...     report = ledger.verify()
    >>> first, signed.checkpoint.size, len(proof.hashes), report.ok
    (0, 2, 1, True)
    """

    def __init__(self, store: LedgerStore, *, key_dir: Path | None = None) -> None:
        """Wrap an open store; prefer `Ledger.open`.

        Args:
            store: the storage backend, opened for writing (or reading, for proofs only).
            key_dir: directory holding the signing key, outside the ledger directory.
        """
        self._store = store
        self._key_dir = key_dir
        self._signer: Signer | None = None
        self._mutex = threading.RLock()
        self._compact = CompactRange.at(store.size, store.node)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        key_dir: str | Path | None = None,
        origin: str | None = None,
        read_only: bool = False,
    ) -> Ledger:
        """Open the ledger at `path`, creating it if absent (unless `read_only`).

        Args:
            path: the ledger directory, or `s3://bucket/prefix` (see `provenance.ledger.s3`).
            key_dir: directory of the signing key (created with the key on first checkpoint);
                must not be inside `path`. Needed to sign checkpoints and to verify.
            origin: checkpoint origin (and key name) for a new ledger; checked if it exists.
            read_only: open without the writer lock and without crash recovery.

        Raises:
            LedgerConfigError: bad options; LedgerBusyError: another writer has it open;
            LedgerCorruptError: the indexed entries are damaged (run `verify`).
        """
        # An s3:// location stays a string: Path() would fold its "//".
        location: str | Path = path if isinstance(path, str) and "://" in path else Path(path)
        keys = Path(key_dir) if key_dir is not None else None
        if keys is not None and isinstance(location, Path):
            inside = keys.resolve()
            if inside == location.resolve() or inside.is_relative_to(location.resolve()):
                raise LedgerConfigError(
                    f"key directory {keys} is inside the ledger {location}; keep keys "
                    "elsewhere, or whoever can alter the ledger can also re-sign it"
                )
        store = open_store(location, mode="read" if read_only else "write", origin=origin)
        try:
            return cls(store, key_dir=keys)
        except BaseException:
            store.close()
            raise

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush the node cache and release the writer lock."""
        with self._mutex:
            self._store.close()

    @property
    def origin(self) -> str:
        """The checkpoint origin line, also the signing key's name."""
        return self._store.origin

    @property
    def size(self) -> int:
        """Number of entries in the ledger."""
        return self._compact.size

    @property
    def store(self) -> LedgerStore:
        """The storage backend (for tools that need raw access)."""
        return self._store

    def root(self, size: int | None = None) -> bytes:
        """Return the tree root hash at `size` (default: the current size)."""
        size = self.size if size is None else self._check_size(size, "size")
        return range_hash(0, size, self._store.node)

    def append(self, entry: bytes) -> int:
        """Durably append one entry; return its index. Batches are much faster: `append_many`."""
        return self.append_many([entry])

    def append_many(self, entries: Iterable[bytes]) -> int:
        """Durably append entries in order, with one fsync; return the index of the first.

        Args:
            entries: opaque byte strings (hashes and references, never personal data).

        Raises:
            LedgerConfigError: an entry is not bytes or is larger than 16 MiB.
        """
        batch = [bytes(e) if isinstance(e, bytearray | memoryview) else e for e in entries]
        for i, entry in enumerate(batch):
            if not isinstance(entry, bytes):
                raise LedgerConfigError(f"entry {i} is {type(entry).__name__}, want bytes")
            if len(entry) > MAX_ENTRY_SIZE:
                raise LedgerConfigError(
                    f"entry {i} is {len(entry)} bytes, over the {MAX_ENTRY_SIZE}-byte limit; "
                    "store a hash and a reference to the content instead"
                )
        with self._mutex:
            if not batch:
                return self._compact.size
            leaves = RFC6962.hash_leaves(batch)
            conflicts = 0
            while True:
                if self._store.size != self._compact.size:
                    self._catch_up(refresh=False)  # the store loaded other writers' entries
                first = self._compact.size
                grown = self._compact.copy()
                levels = grown.extend(leaves)
                try:
                    self._store.append(batch, levels)
                except LedgerConflictError:
                    # Another writer of a shared store appended first; the store caught up.
                    conflicts += 1
                    if conflicts > _MAX_CONFLICTS:
                        raise
                    continue
                self._compact = grown
                return first

    def entry(self, index: int) -> bytes:
        """Return the bytes of entry `index`."""
        return self._store.entry(index)

    @property
    def verifier(self) -> Verifier:
        """The public key that verifies this ledger's checkpoints (needs `key_dir`).

        The signing key is created on first use, so this works before the first checkpoint.
        """
        return self._signing_key().verifier

    def _need_key_dir(self) -> Path:
        if self._key_dir is None:
            raise LedgerConfigError(
                f"ledger {self.origin} was opened without key_dir; pass the key directory"
            )
        return self._key_dir

    def _signing_key(self) -> Signer:
        if self._signer is None:
            self._signer = load_or_create_signer(self._need_key_dir(), self.origin)
        return self._signer

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """Return the newest stored checkpoint, parsed but NOT signature-checked (None if none).

        Use `Checkpoint.open(result.note, verifier)` before trusting it.
        """
        numbers = self._store.checkpoint_numbers()
        if not numbers:
            return None
        note = self._store.read_checkpoint(numbers[-1])
        return SignedCheckpoint(numbers[-1], Checkpoint.parse(SignedNote.parse(note).text), note)

    def checkpoint(self) -> SignedCheckpoint:
        """Sign and store a checkpoint of the current tree (creating the key on first use).

        Returns the latest checkpoint instead if it already covers the current tree.

        Raises:
            LedgerCorruptError: the latest stored checkpoint is not ours or not consistent with
                the tree; nothing is signed.
        """
        with self._mutex:
            signer = self._signing_key()
            conflicts = 0
            while True:
                latest = self.latest_checkpoint()
                # After reading `latest`: entries are stored before any checkpoint covers them,
                # so catching up now sees every entry `latest` covers.
                self._catch_up()
                size, root = self.size, self._compact.root()
                if latest is not None:
                    self._check_extends(latest, signer.verifier)
                    if latest.checkpoint.size == size:
                        return latest
                self._store.sync()
                statement = Checkpoint(origin=self.origin, size=size, root=root)
                note = statement.sign(signer)
                try:
                    return SignedCheckpoint(self._store.add_checkpoint(note), statement, note)
                except LedgerConflictError:
                    conflicts += 1
                    if conflicts > _MAX_CONFLICTS:
                        raise

    def _catch_up(self, *, refresh: bool = True) -> None:
        """Adopt entries other processes appended to a shared store (no-op for a local one)."""
        catch_up = getattr(self._store, "refresh", None) if refresh else None
        if catch_up is not None:
            catch_up()
        if self._store.size != self._compact.size:
            self._compact = CompactRange.at(self._store.size, self._store.node)

    def _check_extends(self, latest: SignedCheckpoint, verifier: Verifier) -> None:
        try:
            Checkpoint.open(latest.note, verifier)
        except NoteError as err:
            raise LedgerCorruptError(
                f"latest checkpoint {latest.number} does not verify with this ledger's key "
                f"({err}); run `verify` before signing",
                index=latest.number,
                kind="checkpoint",
            ) from err
        old = latest.checkpoint
        if old.size > self.size or self.root(old.size) != old.root:
            raise LedgerCorruptError(
                f"the tree is not consistent with checkpoint {latest.number} (size {old.size}); "
                "refusing to sign; run `verify` to find the damage",
                index=latest.number,
                kind="checkpoint",
            )

    def _check_size(self, value: int, name: str) -> int:
        if not 0 <= value <= self.size:
            raise LedgerConfigError(f"{name} {value} is outside the ledger's sizes 0..{self.size}")
        return value

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Return the inclusion proof of entry `index` in the tree of `size` (default: current)."""
        with self._mutex:
            size = self.size if size is None else self._check_size(size, "tree size")
            hashes = inclusion_path(index, size, self._store.node)
            leaf = self._store.node(0, index)
        return InclusionProof(index=index, tree_size=size, leaf_hash=leaf, hashes=hashes)

    def consistency_proof(self, old: int, new: int | None = None) -> ConsistencyProof:
        """Return the consistency proof from tree size `old` to `new` (default: current)."""
        with self._mutex:
            new = self.size if new is None else self._check_size(new, "new size")
            hashes = consistency_path(old, new, self._store.node)
            return ConsistencyProof(
                size1=old, size2=new, root1=self.root(old), root2=self.root(new), hashes=hashes
            )

    def verify(self, *, verifier: Verifier | None = None, progress: bool = False) -> VerifyReport:
        """Recompute the whole tree from storage and check every checkpoint against it.

        Args:
            verifier: trusted public key; defaults to the key in `key_dir`.
            progress: show a progress bar on stderr.
        """
        with self._mutex:
            refresh = getattr(self._store, "refresh", None)
            if refresh is not None:
                refresh()  # a shared store: cover what other writers appended (reports damage)
            has_checkpoints = bool(self._store.checkpoint_numbers())
            if verifier is None and self._key_dir is not None and has_checkpoints:
                verifier = self.verifier
            return verify_ledger(self._store, verifier=verifier, progress=progress)
