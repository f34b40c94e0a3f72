"""Run one input through its contract into the lake: source -> enforcement -> bronze + quarantine.

Idempotency: the app id ``maestro-ingest:<dataset>:<content id>`` is recorded, as a Delta
application transaction, in the bronze commit and in the quarantine commit. The quarantine commit
is written last and carries the input's counts, so an input is *done* exactly when its quarantine
commit exists. Re-running a done input commits nothing and reports the recorded counts; re-running
after a crash between the two commits re-derives the quarantine rows and commits only those.

Every row of the input ends in exactly one place: ``read == committed + quarantined + duplicates``.
A whole-input failure (unreadable file, columns that do not fit the contract) commits nothing and
is returned as ``status="failed"`` with the error, for the caller to quarantine the input.

Streaming: an input flows through three stages that overlap, each a bounded number of batches
ahead of the next: reading and row checks (:meth:`Enforcer.prepare`, one thread), key checks and
output rows (:meth:`Enforcer.finish`, another thread) and the Delta writer (delta-rs's threads). So
memory is bounded by the batch size, not the input size, and on two cores reading, checking and
writing run side by side.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

import faults
from connectors.base import DEFAULT_BATCH_ROWS, Manifest, Source, SourceObject
from connectors.exceptions import ConnectorError, SourceUnreadableError
from contracts.enforce import (
    EnforceCounts,
    Enforcer,
    InputContext,
    PreparedBatch,
    bronze_schema,
    quarantine_schema,
)
from contracts.exceptions import SchemaMismatchError
from contracts.model import Contract
from lake.delta import CommitResult, Lake, append_idempotent, find_commit, open_table
from pipeline.exceptions import InputCrashError

Status = Literal["committed", "already_committed", "failed"]
PREVIEW_ROWS = 5
# Batches read and enforced ahead of the Delta writer (a second core's worth of overlap), and
# bytes handed to the writer but not yet written. delta-rs pulls from its input on its own thread
# and buffers up to 10 batches before its Parquet writer, so without the second bound memory would
# grow with the writer's backlog rather than with the batch size.
PREFETCH_BATCHES = 2
IN_FLIGHT_BYTES = 64 << 20


@dataclass
class IngestResult:
    """What one input's ingest did, for metadata, lineage, metrics and the run summary."""

    dataset: str
    source: str
    kind: str
    manifest: Manifest
    contract_version: str
    status: Status
    counts: EnforceCounts = field(default_factory=EnforceCounts)
    bronze: CommitResult | None = None
    quarantine: CommitResult | None = None
    error: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return app_id_for(self.dataset, self.manifest)

    @property
    def rows_appended(self) -> int:
        """Rows this run appended to bronze (0 when an earlier run or attempt committed them)."""
        return self.bronze.rows if self.bronze is not None and self.bronze.committed else 0

    @property
    def rows_quarantined_now(self) -> int:
        """Rows this run appended to quarantine."""
        return self.quarantine.rows if self.quarantine is not None and self.quarantine.committed else 0

    def summary(self) -> dict[str, Any]:
        """What this run did with the input. ``rows_*`` count what *this run* read and wrote;
        the input's own accounting, whoever committed it, is ``input_counts``."""
        c = self.counts
        done_now = self.status == "committed"
        return {
            "dataset": self.dataset,
            "source": self.source,
            "kind": self.kind,
            "status": self.status,
            "uris": [o.uri for o in self.manifest.objects],
            "sha256": [o.sha256 for o in self.manifest.objects],
            "rows_read": c.read if self.status != "already_committed" else 0,
            "rows_committed": self.rows_appended,
            "rows_quarantined": self.rows_quarantined_now,
            "duplicates_dropped": c.duplicates if done_now else 0,
            "input_counts": _counts_dict(c),
            "recovered": done_now and self.bronze is not None and not self.bronze.committed,
            "reasons": dict(sorted(c.reasons.items())),
            "bronze_version": self.bronze.version if self.bronze else None,
            "quarantine_version": self.quarantine.version if self.quarantine else None,
            "error": self.error,
        }


def app_id_for(dataset: str, manifest: Manifest) -> str:
    return f"maestro-ingest:{dataset}:{manifest.content_id}"


def _counts_from(meta: dict[str, Any]) -> EnforceCounts:
    raw = meta.get("maestro.counts") or {}
    return EnforceCounts(
        read=int(raw.get("read", 0)),
        valid=int(raw.get("valid", 0)),
        rejected=int(raw.get("rejected", 0)),
        duplicates=int(raw.get("duplicates", 0)),
        reasons=dict(raw.get("reasons", {})),
    )


def ingest_object(
    source: Source,
    obj: SourceObject,
    contract: Contract,
    lake: Lake,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    now: datetime | None = None,
    commit_metadata: dict[str, Any] | None = None,
) -> IngestResult:
    """Ingest one input object of ``source`` under ``contract`` into ``lake``.

    Args:
        source: the configured source that can read ``obj``.
        obj: the input, with its sha256 already known (it keys idempotency).
        contract: the dataset's contract.
        lake: where the bronze and quarantine tables live.
        batch_rows: rows per streamed batch (memory bound).
        now: ingest timestamp stamped on rows (default: the current UTC time).
        commit_metadata: extra ``maestro.*`` commitInfo entries recorded in the same atomic
            commits as the rows (e.g. a pull source's new cursor), so they hold exactly when the
            rows do.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    manifest = Manifest(source=source.name, kind=source.kind, dataset=contract.name, objects=(obj,))
    result = IngestResult(contract.name, source.name, source.kind, manifest, contract.version, "failed")
    app_id = app_id_for(contract.name, manifest)
    opts = lake.options()
    bronze_uri = lake.table_uri("bronze", contract.name)
    quarantine_uri = lake.table_uri("quarantine", contract.name)

    q_table = open_table(quarantine_uri, storage_options=opts)
    done = find_commit(q_table, app_id) if q_table is not None else None
    if done is not None:
        from lake.delta import _decode

        meta = _decode(done)
        result.status = "already_committed"
        result.counts = _counts_from(meta)
        result.quarantine = CommitResult(quarantine_uri, False, int(done["version"]), 0, meta)
        b_table = open_table(bronze_uri, storage_options=opts)
        b_done = find_commit(b_table, app_id) if b_table is not None else None
        if b_done is not None:
            result.bronze = CommitResult(bronze_uri, False, int(b_done["version"]), 0, {})
        return _timed(result, wall0, cpu0)

    ingested_at = now or datetime.now(UTC)
    enforcer = Enforcer(
        contract,
        context=InputContext(manifest.id, obj.uri, obj.sha256, ingested_at),
    )
    b_schema, q_schema = bronze_schema(contract), quarantine_schema(contract)
    common_meta = {
        "maestro.manifest": manifest.to_dict(),
        "maestro.contract": f"{contract.name}@{contract.version}",
        "maestro.source": source.name,
        **(commit_metadata or {}),
    }
    with tempfile.TemporaryDirectory(prefix="maestro-quarantine-") as spool_dir:
        derivation = _Derivation(source, obj, contract, enforcer, spool_dir, q_schema, batch_rows, result)
        try:
            result.bronze = append_idempotent(
                bronze_uri,
                derivation.valid_batches(),
                schema=b_schema,
                app_id=app_id,
                metadata=common_meta,
                storage_options=opts,
                name=f"bronze_{contract.name}",
                description=f"Bronze rows of {contract.name} that keep contract v{contract.version}",
            )
            faults.point("ingest.after_bronze_commit")
            if not derivation.drained:
                # Bronze holds this input already (an earlier attempt died before its quarantine
                # commit, or a concurrent run won the race while our stream was cut short): derive
                # the quarantine rows again, from scratch, so no row is counted or spooled twice.
                derivation = derivation.restart()
                for _ in derivation.valid_batches():
                    pass
            derivation.close()
            counts = derivation.enforcer.counts
            assert counts.reconciles, f"row accounting broken for {obj.uri}: {counts}"
            result.quarantine = append_idempotent(
                quarantine_uri,
                derivation.spool.read(),
                schema=q_schema,
                app_id=app_id,
                metadata={**common_meta, "maestro.counts": _counts_dict(counts)},
                storage_options=opts,
                name=f"quarantine_{contract.name}",
                description=f"Rows of {contract.name} rejected by contract checks, with reasons",
            )
            faults.point("ingest.after_quarantine_commit")
        except (SourceUnreadableError, SchemaMismatchError) as err:
            derivation.close()
            result.status = "failed"
            result.error = str(err)
            result.counts = derivation.enforcer.counts
            return _timed(result, wall0, cpu0)
        except BaseException:
            derivation.close()
            raise
        result.status = "committed" if result.quarantine.committed else "already_committed"
        result.counts = derivation.enforcer.counts
    return _timed(result, wall0, cpu0)


class _Derivation:
    """One pass of an input through its enforcer: the valid rows streamed to the bronze writer,
    the rejected rows spooled for the quarantine commit.

    ``drained`` is true once the whole input went through, so the caller knows whether the counts
    and the spool are complete (the writer consumed everything) or must be derived again: a pass
    that was cut short is never resumed or repeated on the same enforcer, which would count and
    spool its first rows twice.
    """

    def __init__(
        self,
        source: Source,
        obj: SourceObject,
        contract: Contract,
        enforcer: Enforcer,
        spool_dir: str,
        q_schema: pa.Schema,
        batch_rows: int,
        result: IngestResult,
        attempt: int = 0,
    ) -> None:
        self.source, self.obj, self.contract, self.enforcer = source, obj, contract, enforcer
        self.spool_dir, self.q_schema, self.batch_rows, self.result = spool_dir, q_schema, batch_rows, result
        self.attempt = attempt
        self.spool = _Spool(os.path.join(spool_dir, f"rejected-{attempt}.arrow"), q_schema)
        self.drained = False
        self._started = False

    def restart(self) -> _Derivation:
        """A fresh pass over the input: a new enforcer and a new spool (the old ones are closed)."""
        self.close()
        self.result.preview.clear()
        enforcer = Enforcer(self.contract, context=self.enforcer.context)
        return _Derivation(
            self.source, self.obj, self.contract, enforcer, self.spool_dir, self.q_schema,
            self.batch_rows, self.result, self.attempt + 1,
        )

    def close(self) -> None:
        self.spool.close()
        self.enforcer.close()

    def _enforced(self) -> Iterator[pa.RecordBatch]:
        # Two stages on two threads: read and parse batch i+1 while batch i is checked against the
        # keys seen so far (and batch i-1 is written).
        enforcer, result = self.enforcer, self.result

        def prepared() -> Iterator[PreparedBatch]:
            return (enforcer.prepare(raw) for raw in self.source.read(self.obj, batch_rows=self.batch_rows))

        try:
            for ready in _prefetched(prepared, depth=1, name="maestro-ingest-prepare"):
                out = enforcer.finish(ready)
                if out.rejected is not None and out.rejected.num_rows:
                    self.spool.write(out.rejected)
                if len(result.preview) < PREVIEW_ROWS and out.valid.num_rows:
                    # Through polars: pyarrow's to_pylist of a timestamp imports pandas (~0.4 s).
                    head = pl.from_arrow(out.valid.slice(0, PREVIEW_ROWS - len(result.preview)))
                    assert isinstance(head, pl.DataFrame)
                    result.preview += head.to_dicts()
                if out.valid.num_rows:
                    yield out.valid
        except (ConnectorError, SchemaMismatchError, OSError, MemoryError):
            raise  # the input's own verdict, or the environment's (retried, never quarantined)
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            raise InputCrashError(
                f"{self.obj.uri}: reading and checking it failed unexpectedly: "
                f"{text if len(text) <= 500 else text[:500] + ' ...'}"
            ) from err
        self.drained = True

    def valid_batches(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError("a derivation is a single pass; restart() for another")
        self._started = True
        in_flight = _InFlight(IN_FLIGHT_BYTES)
        for batch in _prefetched(self._enforced, depth=PREFETCH_BATCHES, name="maestro-ingest-finish"):
            yield in_flight.track(batch)


def _counts_dict(c: EnforceCounts) -> dict[str, Any]:
    return {"read": c.read, "valid": c.valid, "rejected": c.rejected, "duplicates": c.duplicates,
            "reasons": c.reasons}


def _timed(result: IngestResult, wall0: float, cpu0: float) -> IngestResult:
    result.wall_s = time.perf_counter() - wall0
    result.cpu_s = time.process_time() - cpu0
    return result


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _prefetched(produce: Callable[[], Iterator[Any]], *, depth: int, name: str) -> Iterator[Any]:
    """Run ``produce()`` on a worker thread, ``depth`` items ahead of the consumer.

    Reading and enforcing (pyarrow, polars, numpy: mostly outside the GIL) then overlap with what
    consumes them. The producer's exception is re-raised here, in order; if the consumer stops early
    the producer is told to stop and is joined.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, which raises it
            put(_Failed(err))

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


class _InFlight:
    """Bound the bytes handed to the Delta writer that it has not yet written.

    delta-rs gives no signal when it is done with a batch, except releasing its buffers. So each
    batch's ``_source_row`` column is re-homed in a numpy array we own, whose finaliser runs when
    the writer drops the batch. The bound is in bytes, not batches, because delta-rs coalesces
    small batches (up to 8,192 rows) before writing them, and it always lets ``min_batches``
    through, because delta-rs keeps one batch until the next arrives. Waiting is also time-bounded,
    so a writer that holds on to more than that slows us down but cannot deadlock us.
    """

    def __init__(self, budget_bytes: int, *, min_batches: int = 2, max_wait_s: float = 1.0) -> None:
        self._budget, self._min_batches, self._max_wait_s = budget_bytes, min_batches, max_wait_s
        self._bytes = self._batches = 0
        self._changed = threading.Condition()

    def _written(self, size: int) -> None:
        with self._changed:
            self._bytes -= size
            self._batches -= 1
            self._changed.notify()

    def _has_room(self, size: int) -> bool:
        return self._batches < self._min_batches or self._bytes + size <= self._budget

    def track(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        size = batch.nbytes
        with self._changed:
            self._changed.wait_for(lambda: self._has_room(size), timeout=self._max_wait_s)
            self._bytes += size
            self._batches += 1
        i = batch.schema.get_field_index("_source_row")
        column = batch.column(i)  # int64 without nulls
        rows = np.frombuffer(column.buffers()[1], np.int64, len(column), column.offset * 8).copy()
        weakref.finalize(rows, self._written, size)  # our own copy (8 bytes a row), watched
        tracked = pa.Array.from_buffers(pa.int64(), rows.size, [None, pa.py_buffer(rows)])
        return batch.set_column(i, batch.schema.field(i), tracked)


class _Spool:
    """Rejected rows of one input, spooled to an Arrow IPC file so memory stays bounded."""

    def __init__(self, path: str, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self._writer: pa.ipc.RecordBatchFileWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._writer = pa.ipc.new_file(self.path, self.schema)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def read(self) -> Iterator[pa.RecordBatch]:
        if not os.path.exists(self.path):
            return
        with pa.memory_map(self.path) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
