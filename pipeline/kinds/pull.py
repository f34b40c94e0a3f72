"""HTTP pull: fetch, commit, and only then advance the source's incremental cursor."""

from __future__ import annotations

from connectors.base import Source
from connectors.exceptions import ConnectorError
from contracts.model import Contract
from lake.delta import Lake
from pipeline.inputs import SpooledSource, ingest_one
from pipeline.report import DatasetReport, input_error


def ingest_pull(source: Source, contract: Contract, lake: Lake, report: DatasetReport) -> None:
    from connectors.http_pull import HttpPullSource, read_spool

    assert isinstance(source, HttpPullSource)
    try:
        pulled = source.fetch()
    except ConnectorError as err:
        report.input_errors.append(input_error(source.name, source.config.url, err))
        return
    if pulled.records == 0:
        return  # nothing newer than the cursor

    spooled = SpooledSource(source, lambda n: read_spool(pulled.spool_path, n, columns=list(pulled.columns)))
    result = ingest_one(spooled, pulled.source_object(), contract, lake, report)
    if result is not None and result.status in ("committed", "already_committed"):
        if pulled.new_cursor is not None and source.cursor_store is not None:
            source.cursor_store.set(source.name, pulled.new_cursor)
        pulled.spool_path.unlink(missing_ok=True)
