"""What one process knows about an S3 ledger's entry objects: batch boundaries and node hashes.

Contract: a batch object `entries/<first>.bin` holds the framed records (`framing`) of entries
`first, first + 1, ...`; the batches of a healthy ledger tile `[0, size)` without gaps or
overlaps, in key order. `parse_batch` turns one downloaded object into its record offsets and
recomputed leaf hashes; `batch_problem` names the first way a batch breaks the tiling or its
framing. `BatchIndex` is the derived, in-memory cache of one process: batches are added in key
order (as listed), their leaf hashes are folded into every perfect-subtree hash, so proofs and
roots need no further downloads. Nothing here is persisted: a new process rebuilds it by
downloading every batch once. Damage never raises while adding: it is recorded (first bad index
and why), the cache stops there, and asking for a node past it raises `LedgerCorruptError` with
that index, so `verify` can still open the ledger and report the damage.
"""

from __future__ import annotations

import bisect
import io
import re
from array import array
from dataclasses import dataclass

from provenance.exceptions import LedgerCorruptError
from provenance.ledger.framing import FrameError, scan_leaves
from provenance.ledger.hasher import HASH_SIZE
from provenance.ledger.tree import CompactRange

__all__ = ["BatchIndex", "ParsedBatch", "batch_name", "batch_problem", "first_of", "parse_batch"]

_DIGITS = 20
_NAME = re.compile(rf"(\d{{{_DIGITS}}})\.bin")


def batch_name(first: int) -> str:
    """The object name (under `entries/`) of the batch starting at entry `first`."""
    return f"{first:0{_DIGITS}d}.bin"


def first_of(key: str) -> int | None:
    """The first entry index of a batch object key, or None if the key is not a batch."""
    match = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


@dataclass
class ParsedBatch:
    """One batch object as read: whole records up to the first bad one."""

    first: int
    key: str
    offsets: array[int]  # start of each whole record, then the end of the last one
    leaves: list[bytes]  # leaf hash of each whole record
    error: str | None = None  # why the object is not a valid batch (None: it is)
    declared: int | None = None  # record count the writer stored in the object's metadata

    @property
    def count(self) -> int:
        """Entries the batch occupies: all its records, or what its writer declared if damaged."""
        if self.error is None:
            return len(self.leaves)
        return max(self.declared or 0, len(self.leaves) + 1)


def parse_batch(first: int, key: str, data: bytes, declared: int | None) -> ParsedBatch:
    """Check the framing of a downloaded batch; recompute its leaf hashes."""
    offsets: array[int] = array("Q")
    leaves: list[bytes] = []
    error, end = None, len(data)
    try:
        for found, hashes in scan_leaves(io.BytesIO(data), first_index=first, batch=1 << 62):
            offsets.extend(found)
            leaves += hashes
    except FrameError as err:
        error, end = f"{err.reason} at byte {err.offset}", err.offset
    if error is None and not leaves:
        error = "the object holds no records"
    if error is None and declared is not None and declared != len(leaves):
        error = f"it holds {len(leaves)} records but was written with {declared}"
    offsets.append(end)
    return ParsedBatch(first, key, offsets, leaves, error, declared)


def batch_problem(batch: ParsedBatch, expected: int, uri: str) -> tuple[int, str] | None:
    """The first bad entry index and why, if `batch` is not the valid batch expected next."""
    where = f"{uri}/entries/{batch.key.rsplit('/', 1)[-1]}"
    if batch.first > expected:
        return expected, (
            f"entries {expected}..{batch.first - 1} are missing: no object holds them (an entry "
            f"object was deleted); the next object is {where}"
        )
    if batch.first < expected:
        return batch.first, (
            f"{where} starts at entry {batch.first}, inside the entries before it (which end at "
            f"{expected - 1}): an object was added or replaced"
        )
    if batch.error is not None:
        return batch.first + len(batch.leaves), (
            f"entry {batch.first + len(batch.leaves)} (record {len(batch.leaves)} of {where}) is "
            f"damaged: {batch.error}"
        )
    return None


class BatchIndex:
    """Batch boundaries, record offsets and perfect-subtree hashes of one S3 ledger, in memory."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.firsts: list[int] = []
        self.keys: list[str] = []
        self.offsets: list[array[int]] = []
        self.size = 0  # one past the last entry any listed batch holds
        self.good = 0  # entries [0, good) are whole, in place, and hashed into the cache
        self.damage: tuple[int, str] | None = None  # first bad entry index and why
        self.last_key: str | None = None  # where the next listing starts
        self._compact = CompactRange()
        self._levels: list[bytearray] = []

    def add(self, batch: ParsedBatch) -> None:
        """Add the next batch in key order: cache its hashes, or record the damage it shows."""
        # `firsts` last: `locate` (unlocked readers) bisects it, then indexes the other two.
        self.keys.append(batch.key)
        self.offsets.append(batch.offsets)
        self.firsts.append(batch.first)
        self.last_key = batch.key
        problem = batch_problem(batch, self.size, self.uri)
        if self.damage is None:
            if problem is None or problem[0] > batch.first:  # records before the bad one are good
                self._hash(batch.leaves)
            self.damage = problem
        self.size = max(self.size, batch.first + batch.count)

    def _hash(self, leaves: list[bytes]) -> None:
        for level, nodes in enumerate(self._compact.extend(leaves)):
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += b"".join(nodes)
        self.good += len(leaves)

    def damage_error(self) -> LedgerCorruptError:
        """The error for the recorded damage (call only when `damage` is set)."""
        assert self.damage is not None
        index, why = self.damage
        return LedgerCorruptError(
            f"ledger {self.uri}: {why}; run `verify` to see the full extent", index=index
        )

    def locate(self, index: int) -> tuple[str, int, int]:
        """The object key and byte span `[start, stop)` of entry `index`'s record."""
        k = bisect.bisect_right(self.firsts, index) - 1
        rel = index - self.firsts[k] if k >= 0 else -1
        if k < 0 or rel + 1 >= len(self.offsets[k]):
            if self.damage is not None and self.damage[0] <= index:
                raise self.damage_error()
            raise LedgerCorruptError(
                f"ledger {self.uri}: no object holds entry {index}; run `verify`", index=index
            )
        return self.keys[k], self.offsets[k][rel], self.offsets[k][rel + 1]

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        """Cached hashes `[start, stop)` of `level`, concatenated (shorter where missing)."""
        if level >= len(self._levels) or stop <= start:
            return b""
        return bytes(self._levels[level][start * HASH_SIZE : stop * HASH_SIZE])

    def node(self, level: int, index: int) -> bytes:
        """One cached hash; raises LedgerCorruptError if damage (or the end) comes first."""
        data = self.nodes(level, index, index + 1)
        if len(data) == HASH_SIZE:
            return data
        if self.damage is not None:
            raise self.damage_error()
        raise LedgerCorruptError(
            f"ledger {self.uri}: node {index} of level {level} is past the {self.good} entries "
            "this process knows",
            index=index,
            kind="cache",
        )

    def node_count(self, level: int) -> int:
        """Number of hashes cached at `level`."""
        return len(self._levels[level]) // HASH_SIZE if level < len(self._levels) else 0
