"""Measure what an ingest run used and price it: one :class:`CostRecord` per (run id, dataset).

Measured, not estimated:

- :func:`measure` records CPU seconds (user + system of this process *and* its waited-for
  children, from ``resource.getrusage`` deltas), wall seconds, and the operating system's storage
  I/O bytes (``psutil`` ``io_counters`` deltas; where the platform has none they are 0 and
  ``io_measured`` is False). The counters are process-wide, so measure one dataset's ingest at a
  time in a process (Dagster's default multiprocess executor runs each step in its own process).
- Bytes read are the sizes of the input objects in the run's manifests (what the run asked the
  store for); bytes written are the ``size_bytes`` of the Parquet files the run's Delta commits
  added (diff of the table's files at the commit's version and the version before);
  storage bytes are the current files of the dataset's bronze and quarantine tables.
- Object-store requests are known only when the caller counted them (:class:`Requests`);
  otherwise they are ``None`` and cost nothing.

Typical use, after each ingest run (what the Dagster asset calls)::

    with measure() as usage:
        report = ingest_dataset(settings, contract, sources)
    record = cost_record_for_report(report, usage, run_id=run_id, lake=lake, prices=load_prices())
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from lake.delta import Lake, open_table, table_facts
from metrics.prices import PriceTable, price, storage_month_usd

if TYPE_CHECKING:
    from connectors.base import Manifest
    from pipeline.ingest import IngestResult
    from pipeline.report import DatasetReport

RunStatus = Literal["success", "failed"]


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def _io_bytes() -> tuple[int, int] | None:
    try:
        import psutil

        io = psutil.Process().io_counters()
    except (ImportError, AttributeError, OSError, NotImplementedError):
        return None  # psutil missing, or no per-process I/O accounting on this platform (macOS)
    return int(io.read_bytes), int(io.write_bytes)


@dataclass
class Usage:
    """Resource use of one measured block; filled in when the block exits (even by an exception)."""

    started_at: datetime
    cpu_s: float = 0.0
    wall_s: float = 0.0
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    io_measured: bool = False


@contextlib.contextmanager
def measure() -> Iterator[Usage]:
    """Measure CPU, wall time and OS I/O bytes of the block: ``with measure() as usage: ...``."""
    usage = Usage(started_at=datetime.now(UTC))
    cpu0, wall0, io0 = _cpu_seconds(), time.perf_counter(), _io_bytes()
    try:
        yield usage
    finally:
        usage.wall_s = time.perf_counter() - wall0
        usage.cpu_s = max(0.0, _cpu_seconds() - cpu0)
        io1 = _io_bytes()
        if io0 is not None and io1 is not None:
            usage.io_read_bytes = max(0, io1[0] - io0[0])
            usage.io_write_bytes = max(0, io1[1] - io0[1])
            usage.io_measured = True


@dataclass(frozen=True)
class Requests:
    """Object-store requests a run made, when the caller counted them (e.g. boto3 event hooks)."""

    get: int = 0
    put: int = 0


@dataclass(frozen=True)
class CostRecord:
    """One run's measured use and cost for one dataset (a row of the ``metrics/cost`` table)."""

    run_id: str
    dataset: str
    started_at: datetime
    status: RunStatus
    cpu_s: float
    wall_s: float
    bytes_read: int
    bytes_written: int
    storage_bytes: int
    requests: int | None
    requests_get: int | None
    requests_put: int | None
    events_ingested: int
    """Rows read from the inputs this run committed (re-delivered inputs are not counted)."""
    rows_committed: int
    rows_quarantined: int
    duplicates: int
    inputs: int
    input_errors: int
    io_read_bytes: int
    io_write_bytes: int
    io_measured: bool
    last_ingested_at: datetime | None
    """Newest ``_ingested_at`` in the dataset's bronze table after the run (freshness)."""
    compute_usd: float = 0.0
    storage_usd: float = 0.0
    requests_usd: float = 0.0
    transfer_usd: float = 0.0
    total_usd: float = 0.0
    cost_per_1000_events: float | None = None
    storage_month_usd: float = 0.0
    prices_id: str = ""

    def priced(self, table: PriceTable) -> CostRecord:
        """This record with its cost components, total and cost per 1,000 events filled in."""
        c = price(self, table)
        per_1000 = c.total_usd / self.events_ingested * 1000 if self.events_ingested else None
        return replace(
            self,
            **c.as_dict(),
            cost_per_1000_events=per_1000,
            storage_month_usd=storage_month_usd(self.storage_bytes, table),
            prices_id=table.id,
        )

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


def bytes_read_from_manifests(manifests: Iterable[Manifest]) -> int:
    """Sum of the input objects' sizes: what the run read from the store."""
    return sum(o.size for m in manifests for o in m.objects)


def table_file_sizes(
    table_uri: str, *, version: int | None = None, storage_options: Mapping[str, str] | None = None
) -> dict[str, int]:
    """``{path: size_bytes}`` of the table's files at ``version`` (default: current); {} if none."""
    dt = open_table(table_uri, storage_options=storage_options)
    if dt is None:
        return {}
    if version is not None:
        if version < 0:
            return {}
        dt.load_as_version(version)
    actions = pa.table(dt.get_add_actions(flatten=True))
    if not actions.num_rows:
        return {}
    return dict(
        zip(
            actions.column("path").to_pylist(),
            actions.column("size_bytes").to_pylist(),
            strict=True,
        )
    )


def added_bytes(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """Bytes of the files in ``after`` that were not in ``before`` (a commit's added files)."""
    return sum(size for path, size in after.items() if path not in before)


def commit_added_bytes(
    table_uri: str, version: int, *, storage_options: Mapping[str, str] | None = None
) -> int:
    """Bytes the commit at ``version`` added to the table (its add actions' ``size_bytes``)."""
    before = table_file_sizes(table_uri, version=version - 1, storage_options=storage_options)
    after = table_file_sizes(table_uri, version=version, storage_options=storage_options)
    return added_bytes(before, after)


def bytes_written_by(
    results: Iterable[IngestResult], *, storage_options: Mapping[str, str] | None = None
) -> int:
    """Bytes added by the bronze and quarantine commits these ingest results made."""
    total = 0
    for r in results:
        for commit in (r.bronze, r.quarantine):
            if commit is not None and commit.committed:
                total += commit_added_bytes(commit.table_uri, commit.version, storage_options=storage_options)
    return total


def storage_bytes(lake: Lake, dataset: str, *, layers: Sequence[str] = ("bronze", "quarantine")) -> int:
    """Current bytes of the dataset's tables (sum of their live files' ``size_bytes``)."""
    return sum(
        int(table_facts(lake.table_uri(layer, dataset), storage_options=lake.options())["bytes"])
        for layer in layers
    )


def newest_ingested_at(
    table_uri: str, *, storage_options: Mapping[str, str] | None = None
) -> datetime | None:
    """Newest ``_ingested_at`` in a bronze table, from the file statistics in its log (no scan).

    Delta statistics keep timestamps to the millisecond (truncated), so the value may be up to
    1 ms older than the newest row: a freshness lag errs on the late side by at most that. Falls
    back to the newest commit's time when the files carry no statistics for the column.
    """
    dt = open_table(table_uri, storage_options=storage_options)
    if dt is None or dt.version() < 1:
        return None
    actions = pa.table(dt.get_add_actions(flatten=True))
    if "max._ingested_at" in actions.column_names:
        values = [v for v in actions.column("max._ingested_at").to_pylist() if v is not None]
        if values:
            newest = max(values)
            return newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    if not actions.num_rows:
        return None
    last = dt.history(1)[0]
    return datetime.fromtimestamp(int(last["timestamp"]) / 1000, tz=UTC)


def cost_record(
    *,
    run_id: str,
    dataset: str,
    usage: Usage,
    results: Sequence[IngestResult],
    lake: Lake,
    prices: PriceTable,
    requests: Requests | None = None,
    input_errors: int = 0,
    status: RunStatus | None = None,
) -> CostRecord:
    """The priced cost record of one run of ``dataset``.

    Args:
        run_id: the orchestrator's run id (with the dataset, the record's idempotency key).
        usage: what :func:`measure` recorded around the run.
        results: the run's ingest results; only newly committed inputs count as events, inputs
            that failed count as read (their bytes were fetched).
        requests: object-store GET/PUT counts, when the caller counted them.
        input_errors: inputs that could not be ingested (a run with any is ``failed`` unless
            ``status`` says otherwise).
    """
    opts = lake.options()
    new = [r for r in results if r.status == "committed"]
    read = [r for r in results if r.status in ("committed", "failed")]
    failed = input_errors or sum(r.status == "failed" for r in results)
    record = CostRecord(
        run_id=run_id,
        dataset=dataset,
        started_at=usage.started_at,
        status=status or ("failed" if failed else "success"),
        cpu_s=usage.cpu_s,
        wall_s=usage.wall_s,
        bytes_read=bytes_read_from_manifests(r.manifest for r in read),
        bytes_written=bytes_written_by(results, storage_options=opts),
        storage_bytes=storage_bytes(lake, dataset),
        requests=None if requests is None else requests.get + requests.put,
        requests_get=None if requests is None else requests.get,
        requests_put=None if requests is None else requests.put,
        events_ingested=sum(r.counts.read for r in new),
        rows_committed=sum(r.rows_appended for r in new),
        rows_quarantined=sum(r.rows_quarantined_now for r in new),
        duplicates=sum(r.counts.duplicates for r in new),
        inputs=len(new),
        input_errors=int(failed),
        io_read_bytes=usage.io_read_bytes,
        io_write_bytes=usage.io_write_bytes,
        io_measured=usage.io_measured,
        last_ingested_at=newest_ingested_at(lake.table_uri("bronze", dataset), storage_options=opts),
    )
    return record.priced(prices)


def cost_record_for_report(
    report: DatasetReport,
    usage: Usage,
    *,
    run_id: str,
    lake: Lake,
    prices: PriceTable,
    requests: Requests | None = None,
    status: RunStatus | None = None,
) -> CostRecord:
    """:func:`cost_record` for a :class:`pipeline.report.DatasetReport` (one dataset's ingest run)."""
    return cost_record(
        run_id=run_id,
        dataset=report.dataset,
        usage=usage,
        results=report.results,
        lake=lake,
        prices=prices,
        requests=requests,
        input_errors=len(report.input_errors),
        status=status,
    )
