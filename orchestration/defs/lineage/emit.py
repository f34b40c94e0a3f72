"""OpenLineage emission for asset bodies: START, then COMPLETE or FAIL, into the ledger.

Every event is validated against the official schemas before it is appended (an invalid event
is a bug and fails the run loudly). The ledger index of the COMPLETE event goes into the asset's
materialization metadata as ``ledger_index``.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg

from config.settings import Settings
from provenance.lineage import (
    LedgerTransport,
    LedgerTransportConfig,
    LineageSettings,
    RunContext,
    asset_event,
)
from provenance.lineage.naming import asset_job_name


def transport(settings: Settings) -> LedgerTransport:
    ls = LineageSettings.from_settings(settings)
    config = {"ledger_dir": str(ls.ledger_dir), "spec_dir": str(ls.spec_dir), "key_dir": str(ls.key_dir)}
    if ls.endpoint_url:
        config["endpoint_url"] = ls.endpoint_url
    return LedgerTransport(LedgerTransportConfig.from_dict(config))


def run_context(context: dg.AssetExecutionContext, job_name: str) -> RunContext:
    return RunContext.for_dagster(
        dagster_run_id=context.run_id, dagster_job_name=context.job_name, job_name=job_name
    )


class Emitter:
    """Emits one job's events; ``complete`` returns the ledger index for the metadata."""

    def __init__(self, settings: Settings, context: dg.AssetExecutionContext, job_name: str) -> None:
        self.transport = transport(settings)
        self.run = run_context(context, job_name)
        self.log = context.log
        self.job_name = job_name

    def emit(self, event: Any) -> int:
        index = self.transport.emit(event)
        self.log.debug(
            f"lineage: {event.eventType.value if hasattr(event.eventType, 'value') else event.eventType} "
            f"{self.job_name} -> ledger entry {index}"
        )
        return index


@contextmanager
def lineage_run(
    settings: Settings,
    context: dg.AssetExecutionContext,
    job_name: str,
    fail_event: Callable[[Emitter, BaseException], Any],
) -> Iterator[Emitter]:
    """Run the block as one OpenLineage run: on an exception, emit FAIL (built by ``fail_event``)."""
    emitter = Emitter(settings, context, job_name)
    try:
        yield emitter
    except BaseException as err:
        try:
            emitter.emit(fail_event(emitter, err))
        except Exception as lineage_err:  # never hide the original failure behind a lineage one
            context.log.error(f"lineage: could not record FAIL of {job_name}: {lineage_err}")
        raise


class AssetRun:
    """One asset's OpenLineage run; call :meth:`complete` with what it read and wrote."""

    def __init__(self, emitter: Emitter, job_name: str, source_path: str) -> None:
        self.emitter, self.job_name, self.source_path = emitter, job_name, source_path

    def complete(self, *, inputs: Sequence[Any] = (), outputs: Sequence[Any] = ()) -> int:
        return self.emitter.emit(
            asset_event(
                "COMPLETE",
                job_name=self.job_name,
                run=self.emitter.run,
                inputs=inputs,
                outputs=outputs,
                source_path=self.source_path,
            )
        )


@contextmanager
def asset_lineage(
    settings: Settings, context: dg.AssetExecutionContext, *key: str, source_path: str
) -> Iterator[AssetRun]:
    """START now; FAIL if the block raises; the block calls ``complete`` for COMPLETE."""
    job = asset_job_name(*key)

    def fail(em: Emitter, err: BaseException) -> Any:
        return asset_event("FAIL", job_name=job, run=em.run, error=err, source_path=source_path)

    with lineage_run(settings, context, job, fail) as em:
        em.emit(asset_event("START", job_name=job, run=em.run, source_path=source_path))
        yield AssetRun(em, job, source_path)
