"""The S3 ledger store: the ledger as immutable objects under `s3://bucket/prefix`.

Layout (every object is written once, with a conditional put, and never rewritten):

    <prefix>/ledger.json                   format marker and origin
    <prefix>/entries/<first:020d>.bin      one batch: the framed records (`framing`, as in the
                                           local entries.log) of entries first, first+1, ...;
                                           metadata ledger-count (records) and ledger-writer (a
                                           random token of the append that wrote it)
    <prefix>/checkpoints/<number:010d>.note  signed checkpoint notes, numbered from 0

Zero-padded names make key order entry order, so one listing (`StartAfter` the last known key)
finds exactly the batches appended since. The batches of a healthy ledger tile `[0, size)`.

Crash safety: an append is one PUT of one object, and S3 stores an object whole or not at all,
so a crash at any moment leaves every entry either fully in or absent: there is nothing to
repair, and write mode needs no recovery. The append returns after S3 acknowledged the PUT,
which S3 makes durable before answering.

Concurrent writers, with no lock: a writer appends at the end it knows, `n`, by creating
`entries/<n>.bin` with `If-None-Match: *`. The key depends only on `n`, so of two writers that
both think the ledger ends at `n` exactly one creates the object; the other gets 412 (or 409
while the winner's upload is in flight), lists what was appended since, downloads it, and
retries at the new end (the `Ledger` rebuilds its tree view and retries; see
`LedgerConflictError`). By induction every batch starts where the previous one ends: a writer
only ever writes at the end of batches it has read, and it cannot create a key that exists. A
PUT retried after a lost response finds its own object: 412 plus our ledger-writer token in the
object's metadata is success, never a second copy. The key deliberately omits the batch's
count: with `<first>-<count>` two writers racing for `first` with different counts would both
succeed. Checkpoints use the same conditional put at "latest listed number + 1", so a
checkpoint is never overwritten and never lands behind one the signer did not check against.
This relies on S3's strong read-after-write consistency for GET and LIST (AWS since 2020,
MinIO, moto) and on conditional writes (AWS since 2024, MinIO, R2, moto 5).

Cache: each process downloads every batch once when it opens the ledger (in parallel) and keeps
the leaf and perfect-subtree hashes in memory (`s3_index`), ~72 bytes per entry; proofs and
roots then cost no requests. `scan_leaves` (full verify) lists and downloads everything again,
trusting nothing cached. Damage found while loading (a missing, added or altered object) is
recorded, not raised, so a read-only open can still `verify` it; anything that needs a hash past
the damage raises `LedgerCorruptError` with the first bad index, and appends are refused.

Limits: one object (and one PUT) per `append_many` call, so many tiny appends mean many
objects and a slow open; a batch must stay under 512 MiB. If a PUT fails after its retries and
the object is then found absent, a request still in flight could in principle land later and
the caller's retry would store the entries twice (they would be whole and verifiable).
"""

from __future__ import annotations

import json
import logging
import uuid
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from provenance.exceptions import LedgerConfigError, LedgerCorruptError, LedgerStorageError
from provenance.ledger.framing import FrameError, frame_records, parse_record
from provenance.ledger.local import check_origin
from provenance.ledger.s3_index import (
    BatchIndex,
    ParsedBatch,
    batch_name,
    batch_problem,
    first_of,
    parse_batch,
)
from provenance.ledger.s3_io import (
    LedgerUnavailableError,
    S3Objects,
    make_client,
    parse_location,
)
from provenance.ledger.store import LedgerConflictError

__all__ = ["LedgerUnavailableError", "S3Store"]

_LOG = logging.getLogger(__name__)
_FORMAT = "maestro-conductor/ledger-s3/v1"
_COUNT = "ledger-count"
_WRITER = "ledger-writer"
MAX_BATCH_BYTES = 512 << 20


class S3Store:
    """A ledger stored in an S3 bucket; use `S3Store.open` (or `open_store("s3://...")`)."""

    kind = "s3"

    def __init__(self, objects: S3Objects, origin: str, *, writable: bool, workers: int) -> None:
        self._objects = objects
        self._origin = origin
        self._writable = writable
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._index: BatchIndex | None = BatchIndex(objects.location.uri)
        self._checkpoint_seen: int | None = None  # highest number the last listing showed
        self.conflicts = 0  # appends and checkpoints another writer beat (diagnostics)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        location: str,
        *,
        mode: Literal["write", "read"] = "write",
        origin: str | None = None,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 5,
        workers: int = 16,
    ) -> S3Store:
        """Open (for writing: create if absent) the ledger at `s3://bucket/prefix`.

        Args:
            location: `s3://bucket/prefix`; the prefix holds nothing but the ledger.
            mode: "write" may create the ledger and append; "read" never writes.
            origin: the origin of a new ledger; for an existing one it must match if given.
            client: a boto3 S3 client to use instead of one from the AWS default chain
                (credentials, region and `AWS_ENDPOINT_URL` from the environment or profile).
            endpoint_url, region: override the default chain's endpoint and region (e.g. the
                lake's `MAESTRO_LAKE_ENDPOINT_URL`, read by `config.settings`).
            connect_timeout_s, read_timeout_s, max_attempts: per-call budget of the default client.
            workers: parallel downloads while loading batches.
        """
        where = parse_location(location)
        if client is None:
            client = make_client(
                endpoint_url=endpoint_url,
                region=region,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                max_attempts=max_attempts,
                max_connections=workers,
            )
        objects = S3Objects(client, where, max_attempts=max_attempts)
        stored = _read_meta(objects)
        if stored is None:
            if mode == "read":
                raise LedgerConfigError(
                    f"{where.uri} is not a ledger (no ledger.json); check the location"
                )
            stored = _create(objects, origin)
        if origin is not None and origin != stored:
            raise LedgerConfigError(f"ledger {where.uri} has origin {stored!r}, not {origin!r}")
        store = cls(objects, stored, writable=mode == "write", workers=workers)
        try:
            store.refresh()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def uri(self) -> str:
        return self._objects.location.uri

    @property
    def index(self) -> BatchIndex:
        if self._index is None:
            raise LedgerConfigError(f"ledger {self.uri} is closed; open it again")
        return self._index

    def _key(self, folder: str, name: str) -> str:
        return self._objects.location.key(f"{folder}/{name}")

    def _need_writable(self) -> None:
        if not self._writable:
            raise LedgerConfigError(f"ledger {self.uri} is open read-only; open it for writing")

    # -- reading batches -------------------------------------------------------------------------

    def _fetch(self, key: str) -> ParsedBatch | None:
        """Download and parse one batch object; None if it vanished since it was listed."""
        first = first_of(key)
        assert first is not None
        got = self._objects.get(key, action="read entry batch")
        if got is None:
            return None
        data, meta = got
        declared = meta.get(_COUNT)
        count = int(declared) if declared and declared.isdigit() else None
        return parse_batch(first, key, data, count)

    def _fetch_all(self, keys: list[str]) -> Iterator[ParsedBatch]:
        """Parsed batches of `keys` in order, downloaded in parallel a bounded window at a time."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="ledger-s3")
        window = 4 * self._workers
        for i in range(0, len(keys), window):
            for batch in self._pool.map(self._fetch, keys[i : i + window]):
                if batch is not None:  # a deleted object shows as a gap before the next one
                    yield batch

    def _batch_keys(self, *, start_after: str | None = None) -> list[str]:
        listed = self._objects.list("entries", start_after=start_after)
        return [key for key in listed if first_of(key) is not None]

    def refresh(self) -> int:
        """Load the batches appended since the last look (by any writer); return the size."""
        index = self.index
        for batch in self._fetch_all(self._batch_keys(start_after=index.last_key)):
            index.add(batch)
        return index.size

    # -- the LedgerStore interface -----------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        return self.index.size

    def append(self, entries: Sequence[bytes], levels: Sequence[Sequence[bytes]]) -> None:
        """Store `entries` as one batch object at the end; raise LedgerConflictError if another
        writer got there first (this store has then caught up: rebuild from `size` and retry).

        Only `levels[0]` (the leaf hashes) is used: the cache recomputes the upper levels.
        """
        self._need_writable()
        index = self.index
        if index.damage is not None:
            raise index.damage_error()
        leaves = list(levels[0])
        blob, offsets = frame_records(entries, leaves)
        if len(blob) > MAX_BATCH_BYTES:
            raise LedgerConfigError(
                f"a batch of {len(entries)} entries is {len(blob)} bytes, over the "
                f"{MAX_BATCH_BYTES}-byte object limit of {self.uri}; append in smaller batches"
            )
        first = index.size
        key = self._key("entries", batch_name(first))
        meta = {_COUNT: str(len(entries)), _WRITER: uuid.uuid4().hex}
        action = f"append entries {first}..{first + len(entries) - 1} to"
        if not self._put_own(key, blob, meta, action=action):
            self.conflicts += 1
            size = self.refresh()
            _LOG.debug("ledger %s: entry %d was taken by another writer; now at %d", self.uri, first, size)
            raise LedgerConflictError(
                f"ledger {self.uri}: another writer appended at entry {first} first; the store "
                f"now knows {size} entries; retry the append"
            )
        offsets.append(len(blob))
        index.add(ParsedBatch(first, key, array("Q", offsets), leaves, None, len(entries)))

    def _put_own(self, key: str, body: bytes, meta: dict[str, str], *, action: str) -> bool:
        """Create `key` unless it exists; True if it holds this call's object afterwards.

        A request botocore retried after a lost response meets its own first attempt: 412, but
        the stored ledger-writer token is ours, so that is success, not a conflict.
        """
        token = meta[_WRITER]
        try:
            if self._objects.put_new(key, body, metadata=meta, action=action):
                return True
        except LedgerUnavailableError as err:
            try:
                stored = self._objects.head(key, action="check the outcome of writing")
            except LedgerUnavailableError:
                raise LedgerUnavailableError(
                    f"{err}; whether s3://{self._objects.location.bucket}/{key} was written is "
                    "unknown: reopen the ledger and look for these entries before writing them "
                    "again"
                ) from err
            if stored is None:
                raise  # not written: safe to retry
            return stored.get(_WRITER) == token
        stored = self._objects.head(key, action="check the owner of")
        return stored is not None and stored.get(_WRITER) == token

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise LedgerConfigError(f"entry {index} does not exist: the ledger has {self.size}")
        key, start, stop = self.index.locate(index)
        got = self._objects.get(key, byte_range=(start, stop), action=f"read entry {index} from")
        where = f"s3://{self._objects.location.bucket}/{key}"
        if got is None:
            raise LedgerCorruptError(
                f"ledger {self.uri}: entry {index}: {where} was deleted; run `verify`", index=index
            )
        try:
            return parse_record(got[0], index=index, offset=start)
        except FrameError as err:
            raise LedgerCorruptError(f"ledger {self.uri}: entry {err} in {where}", index=index) from err

    def scan_leaves(self, *, batch: int = 65536) -> Iterator[list[bytes]]:
        """List and download every batch afresh; yield recomputed leaf hashes in order."""
        expected, pending = 0, []
        for parsed in self._fetch_all(self._batch_keys()):
            problem = batch_problem(parsed, expected, self.uri)
            if problem is not None:
                if problem[0] > parsed.first:
                    pending += parsed.leaves
                if pending:
                    yield pending
                raise LedgerCorruptError(f"ledger {self.uri}: {problem[1]}", index=problem[0])
            pending += parsed.leaves
            expected = parsed.first + len(parsed.leaves)
            while len(pending) >= batch:
                yield pending[:batch]
                pending = pending[batch:]
        if pending:
            yield pending

    def node(self, level: int, index: int) -> bytes:
        return self.index.node(level, index)

    def nodes(self, level: int, start: int, stop: int) -> bytes:
        return self.index.nodes(level, start, stop)

    def node_count(self, level: int) -> int:
        return self.index.node_count(level)

    def add_checkpoint(self, note: bytes) -> int:
        """Store `note` as the checkpoint after the latest one `checkpoint_numbers` showed;
        raise LedgerConflictError if another writer stored that number first."""
        self._need_writable()
        if self._checkpoint_seen is None:
            self.checkpoint_numbers()
        assert self._checkpoint_seen is not None
        number = self._checkpoint_seen + 1
        key = self._key("checkpoints", f"{number:010d}.note")
        if not self._put_own(key, note, {_WRITER: uuid.uuid4().hex}, action="write checkpoint"):
            self.conflicts += 1
            self.checkpoint_numbers()
            raise LedgerConflictError(
                f"ledger {self.uri}: another writer stored checkpoint {number} first; read the "
                "latest checkpoint again and sign anew"
            )
        self._checkpoint_seen = number
        return number

    def checkpoint_numbers(self) -> list[int]:
        numbers = []
        for key in self._objects.list("checkpoints"):
            name = key.rsplit("/", 1)[-1]
            if len(name) == 15 and name.endswith(".note") and name[:10].isdigit():
                numbers.append(int(name[:10]))
        numbers.sort()
        self._checkpoint_seen = numbers[-1] if numbers else -1
        return numbers

    def read_checkpoint(self, number: int) -> bytes:
        key = self._key("checkpoints", f"{number:010d}.note")
        got = self._objects.get(key, action=f"read checkpoint {number} from")
        if got is None:
            raise LedgerCorruptError(
                f"checkpoint {number} of {self.uri} cannot be read: the object was deleted",
                index=number,
                kind="checkpoint",
            )
        return got[0]

    def sync(self) -> None:
        """Nothing to do: every object is durable once its PUT returned."""

    def close(self) -> None:
        self._index = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _read_meta(objects: S3Objects) -> str | None:
    """The origin in ledger.json, or None if there is no ledger.json."""
    key = objects.location.key("ledger.json")
    got = objects.get(key, action="read ledger metadata")
    if got is None:
        return None
    where = f"s3://{objects.location.bucket}/{key}"
    try:
        doc = json.loads(got[0].decode("utf-8"))
        if doc.get("format") != _FORMAT:
            raise LedgerConfigError(f"{where} has format {doc.get('format')!r}, want {_FORMAT}")
        return check_origin(doc["origin"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise LedgerConfigError(f"cannot read ledger metadata {where}: {err}") from err


def _create(objects: S3Objects, origin: str | None) -> str:
    """Create ledger.json (first writer wins); return the origin stored."""
    where = objects.location
    default = f"maestro-conductor.s3/ledger/{where.bucket}/{where.prefix}".rstrip("/")
    name = check_origin(origin or default)
    if objects.any_key() is not None:
        stored = _read_meta(objects)  # another writer may have just created it
        if stored is not None:
            return stored
        raise LedgerConfigError(
            f"{where.uri} holds objects but no ledger.json: it is not a ledger; "
            "give the ledger a prefix of its own"
        )
    body = json.dumps({"format": _FORMAT, "origin": name}, indent=2).encode() + b"\n"
    if objects.put_new(where.key("ledger.json"), body, metadata={}, action="create ledger"):
        return name
    stored = _read_meta(objects)  # another writer created it first
    if stored is None:
        raise LedgerStorageError(f"{where.uri}/ledger.json exists but cannot be read; retry")
    return stored
