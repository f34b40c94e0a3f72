"""One input through :func:`pipeline.ingest.ingest_object`, with its outcome recorded in a report.

Shared by the per-kind drivers in :mod:`pipeline.kinds`: a connector error or a failed input is
recorded as an input error of the report, never raised, so one bad input never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa

from connectors.base import Source, SourceObject
from connectors.exceptions import ConnectorError
from contracts.model import Contract
from lake.delta import Lake
from lake.retry import retrying
from pipeline import ingest
from pipeline.ingest import IngestResult
from pipeline.report import DatasetReport, input_error


def ingest_one(
    source: Source, obj: SourceObject, contract: Contract, lake: Lake, report: DatasetReport
) -> IngestResult | None:
    """Ingest ``obj``; append its result (and any error) to ``report``. None on a connector error."""
    try:
        # A transient object-store failure (a reset connection, a truncated response) aborts the
        # attempt before or at its commit; the ingest is idempotent, so it is simply run again.
        result = retrying(lambda: ingest.ingest_object(source, obj, contract, lake), what=obj.uri)
    except ConnectorError as err:
        report.input_errors.append(input_error(source.name, obj.uri, err))
        return None
    report.results.append(result)
    if result.status == "failed":
        report.input_errors.append({"source": source.name, "input": obj.uri, "error": result.error})
    return result


def ingest_discovered(source: Source, contract: Contract, lake: Lake, report: DatasetReport) -> None:
    """Every input ``source`` discovers (already-committed content is a no-op)."""
    try:
        objects = source.discover()
    except ConnectorError as err:
        report.input_errors.append(input_error(source.name, None, err))
        return
    for obj in objects:
        ingest_one(source, obj, contract, lake, report)


class SpooledSource(Source):
    """An input already fetched to a local spool, read like any source (the spool is the input)."""

    def __init__(self, source: Source, read: Callable[[int], Iterator[pa.RecordBatch]]) -> None:
        super().__init__(name=source.name, dataset=source.dataset)
        self.kind = source.kind  # type: ignore[misc]
        self._read = read

    def discover(self) -> list[SourceObject]:
        raise NotImplementedError("a spool is read, not discovered")

    def read(self, obj: SourceObject, *, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        return self._read(batch_rows)
