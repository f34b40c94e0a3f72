"""HTTP push: ingest landed batches; mark each processed or failed (moved, never deleted).

Crash safety: a batch stays pending until it is marked, and it is marked only after its lake
commit. A run killed in between leaves it pending; the next run (the push sensor requests one,
:mod:`connectors.http_push.pending`) finds the input committed, commits nothing and marks it. A
move to processed/ or quarantine/ cut short by a crash is finished first (``Landing.recover``).
Fault points: ``pipeline.push.after_recover``, ``pipeline.push.after_commit`` (rows in the lake,
batch still pending), ``pipeline.push.after_mark``.
"""

from __future__ import annotations

from collections.abc import Sequence

import faults
from connectors.base import Source
from contracts.model import Contract
from lake.delta import Lake
from pipeline.inputs import ingest_one
from pipeline.report import DatasetReport


def ingest_push(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, only: Sequence[str] | None
) -> None:
    from connectors.http_push.exceptions import LandingError
    from connectors.http_push.reader import PushSource

    assert isinstance(source, PushSource)
    source.landing.recover(contract.name)
    faults.point("pipeline.push.after_recover")
    wanted = set(only or [])
    for obj in source.discover():
        batch_id = source.batch_id(obj)
        if wanted and batch_id not in wanted:
            continue
        result = ingest_one(source, obj, contract, lake, report)
        faults.point("pipeline.push.after_commit")
        try:
            if result is not None and result.status in ("committed", "already_committed"):
                source.landing.mark_processed(contract.name, batch_id, details=result.summary())
            else:
                error = result.error if result is not None else report.input_errors[-1]["error"]
                source.landing.mark_failed(
                    contract.name,
                    batch_id,
                    error=error or "unknown error",
                    details={"contract_version": contract.version},
                )
        except LandingError as err:  # another run finished this batch first
            report.input_errors.append({"source": source.name, "input": batch_id, "error": str(err)})
        faults.point("pipeline.push.after_mark")
