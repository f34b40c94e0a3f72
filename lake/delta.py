"""Delta tables through delta-rs: idempotent, streaming appends and table facts.

Every ingest commit carries a Delta *application transaction* (``txn`` action) whose app id is
derived from the input's content hash. The txn is written in the same atomic commit as the data,
so "was this input committed?" is answered by the table itself — after a crash, a retry or a
re-delivery alike. :func:`append_idempotent` checks it before writing and records it when writing.

Data is streamed: the caller passes an iterator of record batches and delta-rs writes Parquet files
as they come, committing once at the end. If the iterator raises, nothing is committed (orphan
files, if any, are removed by ``vacuum``) and the original exception is re-raised.

The lake location is one setting (:class:`Lake`): a local folder or an ``s3://`` URI with storage
options; nothing else in this module cares which.

>>> import pyarrow as pa, tempfile
>>> lake = Lake(root=tempfile.mkdtemp())
>>> schema = pa.schema([("x", pa.int64())])
>>> batches = [pa.record_batch([pa.array([1, 2])], schema=schema)]
>>> append_idempotent(lake.table_uri("bronze", "demo"), batches, schema=schema, app_id="a1").committed
True
>>> append_idempotent(lake.table_uri("bronze", "demo"), batches, schema=schema, app_id="a1").committed
False
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError

import faults
from lake.exceptions import LakeWriteError
from lake.retry import retrying

TXN_VERSION = 1


@dataclass(frozen=True)
class Lake:
    """Where the lake lives: a local folder (default) or an object-store URI such as ``s3://b/p``."""

    root: str
    storage_options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    def table_uri(self, layer: str, name: str) -> str:
        """URI of table ``name`` in ``layer`` (``bronze``, ``quarantine``, ``metrics`` ...)."""
        root = self.root.removeprefix("file://") if self.root.startswith("file://") else self.root
        if self.is_local:
            return os.path.join(os.path.abspath(root), layer, name)
        return f"{root.rstrip('/')}/{layer}/{name}"

    def options(self) -> dict[str, str] | None:
        return dict(self.storage_options) or None


@dataclass(frozen=True)
class CommitResult:
    table_uri: str
    committed: bool
    """False when the app id was already committed: nothing was written."""
    version: int
    """The table version holding the commit (the earlier one when ``committed`` is False)."""
    rows: int
    metadata: dict[str, Any]


def open_table(table_uri: str, *, storage_options: Mapping[str, str] | None = None) -> DeltaTable | None:
    """The Delta table at ``table_uri``, or None when there is none yet."""

    def op() -> DeltaTable | None:
        try:
            return DeltaTable(table_uri, storage_options=dict(storage_options or {}) or None)
        except TableNotFoundError:
            return None

    return retrying(op, what=f"open {table_uri}")


def ensure_table(
    table_uri: str,
    schema: pa.Schema,
    *,
    name: str,
    description: str = "",
    storage_options: Mapping[str, str] | None = None,
) -> DeltaTable:
    """Create the table with ``schema`` if it does not exist; return it."""
    opts = dict(storage_options or {}) or None

    def op() -> DeltaTable:
        DeltaTable.create(
            table_uri, schema, mode="ignore", name=name, description=description, storage_options=opts
        )
        return DeltaTable(table_uri, storage_options=opts)

    return retrying(op, what=f"create {table_uri}")


def find_commit(dt: DeltaTable, app_id: str) -> dict[str, Any] | None:
    """The commitInfo (with ``version``) of the commit that recorded ``app_id``, if any."""
    if dt.transaction_version(app_id) is None:
        return None
    for info in retrying(dt.history, what=f"history of {dt.table_uri}"):
        if info.get("maestro.app_id") == app_id:
            return info
    return {"version": dt.version()}


def append_idempotent(
    table_uri: str,
    batches: Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema,
    app_id: str,
    metadata: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, str] | None = None,
    name: str | None = None,
    description: str = "",
) -> CommitResult:
    """Append ``batches`` in one commit unless ``app_id`` is already committed to the table.

    Args:
        table_uri: the table's location (from :meth:`Lake.table_uri`).
        batches: record batches matching ``schema``; consumed lazily, never all in memory.
        schema: the table schema (the table is created with it if missing; new nullable columns
            are merged into an existing table, which is how additive contract changes land).
        app_id: the idempotency key recorded as a Delta application transaction.
        metadata: extra commitInfo entries (values are JSON-encoded when not strings).
        storage_options: object-store options for ``s3://`` lakes.
    """
    opts = dict(storage_options or {}) or None
    dt = ensure_table(
        table_uri,
        schema,
        name=name or table_uri.rstrip("/").rsplit("/", 1)[-1],
        description=description,
        storage_options=opts,
    )
    prior = find_commit(dt, app_id)
    if prior is not None:
        return CommitResult(table_uri, False, int(prior["version"]), 0, _decode(prior))

    counter = _CountingIterator(batches)
    reader = pa.RecordBatchReader.from_batches(schema, counter)
    info = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in (metadata or {}).items()}
    info["maestro.app_id"] = app_id
    # Which attempt wrote the commit: when the commit lands but its response is lost (an S3 500 or
    # reset after the PUT), the retry below finds the commit and can tell it is its own.
    nonce = info["maestro.attempt"] = uuid.uuid4().hex
    try:
        write_deltalake(
            dt,
            reader,
            mode="append",
            schema_mode="merge",
            storage_options=opts,
            # Parquet: delta-rs keeps the row group being written in memory (1M rows by default),
            # so smaller row groups bound its memory. A column is dictionary-encoded until its
            # dictionary reaches the page limit: at the default 1 MiB a high-cardinality column is
            # hashed for ~130k values per row group and then re-encoded plain (a third of the
            # writer's CPU); at 64 KiB low-cardinality columns keep their dictionary and the others
            # give up early. zstd level 1 writes about as fast as snappy, files ~35% smaller.
            # (Passing WriterProperties resets compression to none, so it is always set.)
            writer_properties=WriterProperties(
                compression="ZSTD",
                compression_level=1,
                max_row_group_size=262_144,
                dictionary_page_size_limit=64 << 10,
            ),
            commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id, TXN_VERSION)], custom_metadata=info
            ),
        )
    except Exception as err:
        if counter.error is not None:  # the producer failed: surface its own error, not Arrow's
            raise counter.error from err
        # A concurrent writer committing the same app id wins the race; delta-rs refuses ours
        # ("concurrent transaction"). The input is then committed exactly once: report it as done.
        table = open_table(table_uri, storage_options=opts)
        winner = find_commit(table, app_id) if table is not None else None
        if winner is not None:
            ours = winner.get("maestro.attempt") == nonce
            rows = counter.rows if ours else 0
            return CommitResult(table_uri, ours, int(winner["version"]), rows, _decode(winner))
        raise LakeWriteError(f"could not commit to Delta table {table_uri}: {err}") from err
    faults.point("lake.after_commit")
    dt = open_table(table_uri, storage_options=opts)
    assert dt is not None
    return CommitResult(table_uri, True, dt.version(), counter.rows, _decode(info))


def _decode(info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in info.items():
        if k.startswith("maestro."):
            try:
                out[k] = json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v
            except json.JSONDecodeError:
                out[k] = v
    return out


class _CountingIterator(Iterator[pa.RecordBatch]):
    """Counts rows passing through and keeps the producer's exception for re-raising."""

    def __init__(self, batches: Iterable[pa.RecordBatch]) -> None:
        self._it = iter(batches)
        self.rows = 0
        self.error: BaseException | None = None

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = next(self._it)
        except StopIteration:
            raise
        except BaseException as err:
            self.error = err
            raise
        self.rows += batch.num_rows
        return batch


def table_facts(table_uri: str, *, storage_options: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Version, row count, file count and bytes of a table, from its log (no data scan)."""
    dt = open_table(table_uri, storage_options=storage_options)
    if dt is None:
        return {"exists": False, "version": None, "rows": 0, "files": 0, "bytes": 0}
    actions = retrying(lambda: dt.get_add_actions(flatten=True), what=f"files of {table_uri}")
    tbl = pa.table(actions)
    rows = sum(v or 0 for v in tbl.column("num_records").to_pylist()) if tbl.num_rows else 0
    size = sum(tbl.column("size_bytes").to_pylist()) if tbl.num_rows else 0
    return {
        "exists": True,
        "version": dt.version(),
        "rows": int(rows),
        "files": tbl.num_rows,
        "bytes": int(size),
    }
