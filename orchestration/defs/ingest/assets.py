"""Ingest assets: one multi-asset per dataset producing its bronze and quarantine tables.

The asset bodies only wire Dagster to :func:`pipeline.run.ingest_dataset` and turn its report into
materialization metadata and asset-check results. Rows previewed in the metadata show classified
columns masked (:func:`orchestration.defs.ingest.checks.masked_rows`); inputs rejected whole fail
the ``inputs_accepted`` check.

The ingest step is safe to retry — a retry commits nothing twice (each input's content hash is a
Delta application transaction in the same atomic commit as its rows). When a source could not be
reached (a retryable error of the report: the rest was committed), the step asks Dagster to run it
again in the same run, :data:`UNAVAILABLE_RETRIES` times, :data:`UNAVAILABLE_WAIT_S` apart. Any
other exception fails the step as it is (the drop and push sensors request their input again; a
dead worker's run is retried by the instance, see ``orchestration/instance.py``).

Fault points (:mod:`faults`): ``orchestration.ingest.start`` (before any input is read),
``orchestration.ingest.after_commit`` (inputs committed, nothing reported yet: no checks, no ledger
COMPLETE, no materialization) and ``orchestration.ingest.after_ledger`` (the COMPLETE event is in
the ledger; Dagster has not yet recorded the materialization).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

import faults
from config.sources import SourceSpec, load_sources
from contracts.model import Contract
from lake.delta import table_facts
from metrics import append_cost_records, cost_record_for_report, load_prices, measure
from orchestration.defs.ingest.checks import (
    inputs_check_result,
    inputs_check_spec,
    masked_rows,
    redacted_error,
)
from orchestration.defs.lineage.emit import Emitter, lineage_run
from orchestration.resources import MaestroResource
from pipeline.checks import CheckOutcome, check_specs, committed_rows_by_ingests, evaluate_checks
from pipeline.run import DatasetReport, ingest_dataset, lake_for
from provenance.lineage import LineageSettings, ingest_event
from provenance.lineage.naming import ingest_job_name
from provenance.lineage.recovery import recover_for_ingest


class IngestConfig(dg.Config):
    """Run configuration: the inputs a sensor asks for (empty: everything pending).

    Dropped file paths for file-drop sources, batch ids for push sources.
    """

    inputs: list[str] = []


UNAVAILABLE_RETRIES = 2
UNAVAILABLE_WAIT_S = 15


def bronze_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", dataset])


def quarantine_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["quarantine", dataset])


def ingest_op_name(dataset: str) -> str:
    return f"ingest_{dataset}"


def _contract_metadata(contract: Contract, sources: Sequence[SourceSpec]) -> dict[str, Any]:
    return {
        "contract": f"{contract.name} v{contract.version}",
        "owner": contract.owner,
        "primary_key": ", ".join(contract.primary_key) or "(none)",
        "freshness_slo": contract.freshness.max_lag,
        "retention_tier": contract.retention_tier,
        "purpose_tags": ", ".join(contract.purpose_tags),
        "sources": ", ".join(f"{s.name} ({s.kind})" for s in sources),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(
                    c.name,
                    c.type,
                    description=f"[{c.classification}] {c.description}",
                    constraints=dg.TableColumnConstraints(
                        nullable=c.nullable, unique=c.name in contract.primary_key
                    ),
                )
                for c in contract.columns
            ]
        ),
    }


def _md_table(rows: list[dict[str, Any]], limit: int = 5) -> str:
    if not rows:
        return "_no rows_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:limit]:
        lines.append("| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def _inputs_md(report: DatasetReport) -> str:
    rows = [
        {
            "input": r.manifest.objects[0].uri.rsplit("/", 1)[-1],
            "sha256": r.manifest.objects[0].sha256[:12],
            "status": r.status,
            "read": r.counts.read,
            "committed": r.counts.valid,
            "quarantined": r.counts.rejected,
            "duplicates": r.counts.duplicates,
        }
        for r in report.results
    ]
    return _md_table(rows, limit=50)


GX_CHECKS = [
    (
        "great_expectations",
        "The contract's Great Expectations suite (compiled from the contract, rule "
        "for rule) passes on this run's new rows: every error-severity expectation holds. Results JSON "
        "and Data Docs are linked in the metadata.",
        True,
    ),
    (
        "great_expectations_warnings",
        "Warning-severity expectations of the contract's suite hold on this "
        "run's new rows (does not block downstream assets).",
        False,
    ),
]


def _validate(
    settings: Any, contract: Contract, bronze_uri: str, lake: Any, report: DatasetReport, before: int | None
) -> Any:
    """Great Expectations on the rows this run committed (a documented sample: quality/README.md)."""
    if not report.new_inputs or not report.total("valid"):
        return None
    from quality import validate_table

    root = Path(lake.root) / "_quality" if lake.is_local else settings.home / "quality"
    return validate_table(
        contract,
        bronze_uri,
        results_dir=root / contract.name,
        storage_options=lake.options(),
        mode="sample",
        since_version=before,
    )


def quality_outcomes(quality: Any) -> list[CheckOutcome]:
    """Great Expectations results as check outcomes, for the OpenLineage data-quality facet."""
    if quality is None:
        return []
    out = [
        CheckOutcome(
            "great_expectations", "error", quality.success, f"Great Expectations suite {quality.suite_name}"
        )
    ]
    for f in [*quality.error_failed, *quality.warn_failed]:
        out.append(
            CheckOutcome(
                f"gx:{f.rule}",
                f.severity,
                False,
                f.expectation_type,
                {"column": f.column} if f.column else {},
            )
        )
    return out


def _failures(failed: Sequence[Any]) -> str | None:
    return "; ".join(f"{f.rule}: {f.unexpected_count} unexpected" for f in failed) or None


def _gx_check_results(ds: str, quality: Any) -> Iterator[dg.AssetCheckResult]:
    if quality is None:
        for name, _, _ in GX_CHECKS:
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=bronze_key(ds),
                passed=True,
                metadata={"validated": "nothing new committed in this run"},
            )
        return
    meta = {
        k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
        for k, v in quality.metadata().items()
        if v is not None
    }
    if quality.docs_path:
        meta["data_docs"] = dg.MetadataValue.url(f"file://{quality.docs_path}")
    if quality.docs_page_path:
        meta["data_docs_page"] = dg.MetadataValue.url(f"file://{quality.docs_page_path}")
    meta["results_json"] = dg.MetadataValue.path(quality.results_json_path)
    yield dg.AssetCheckResult(
        check_name="great_expectations",
        asset_key=bronze_key(ds),
        passed=quality.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=meta,
        description=_failures(quality.error_failed),
    )
    yield dg.AssetCheckResult(
        check_name="great_expectations_warnings",
        asset_key=bronze_key(ds),
        passed=not quality.warn_failed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=meta,
        description=_failures(quality.warn_failed),
    )


def build_ingest_asset(contract: Contract, sources: Sequence[SourceSpec]) -> dg.AssetsDefinition:
    """The multi-asset that ingests ``contract``'s dataset from ``sources``."""
    ds = contract.name
    checks = check_specs(contract)
    base_meta = _contract_metadata(contract, sources)
    kinds = {"delta", "polars"}

    @dg.multi_asset(
        name=ingest_op_name(ds),
        specs=[
            dg.AssetSpec(
                bronze_key(ds),
                group_name="bronze",
                kinds=kinds,
                metadata=base_meta,
                description=f"{contract.description} Rows that keep contract {ds} v{contract.version}.",
                tags={"layer": "bronze", **{f"purpose_{t}": "" for t in contract.purpose_tags}},
            ),
            dg.AssetSpec(
                quarantine_key(ds),
                group_name="quarantine",
                kinds=kinds,
                description=f"Rows of {ds} rejected by contract checks: original values, reason "
                "codes per failed rule and a pointer to the source manifest.",
                tags={"layer": "quarantine"},
            ),
        ],
        check_specs=[
            *[
                dg.AssetCheckSpec(name, asset=bronze_key(ds), description=desc, blocking=blocking)
                for name, desc, blocking in GX_CHECKS
            ],
            inputs_check_spec(bronze_key(ds)),
            *[
                dg.AssetCheckSpec(
                    s.name, asset=bronze_key(ds), description=s.description, blocking=s.severity == "error"
                )
                for s in checks
            ],
        ],
        can_subset=False,
        op_tags={"dataset": ds},
    )
    def _ingest(
        context: dg.AssetExecutionContext, config: IngestConfig, maestro: MaestroResource
    ) -> Iterator[Any]:
        settings = maestro.settings()
        lake = lake_for(settings)
        uris = {
            "bronze_uri": lake.table_uri("bronze", ds),
            "quarantine_uri": lake.table_uri("quarantine", ds),
        }
        # Source options may name environment variables: resolve them now, at run time.
        run_sources = [s for s in load_sources(settings) if s.dataset == ds] or list(sources)

        def fail_event(em: Emitter, err: BaseException) -> Any:
            return ingest_event(
                "FAIL", run=em.run, contract=contract, storage_options=lake.options(), error=err, **uris
            )

        with lineage_run(settings, context, ingest_job_name(ds), fail_event) as em:
            em.emit(
                ingest_event("START", run=em.run, contract=contract, storage_options=lake.options(), **uris)
            )
            before = table_facts(uris["bronze_uri"], storage_options=lake.options()).get("version")
            faults.point("orchestration.ingest.start")
            with measure() as usage:
                report = ingest_dataset(settings, contract, run_sources, inputs=config.inputs or None)
            faults.point("orchestration.ingest.after_commit")
            cost = cost_record_for_report(
                report, usage, run_id=context.run_id, lake=lake, prices=load_prices()
            )
            append_cost_records(lake, [cost])
            run_counts = {k: report.total(k) for k in ("read", "valid", "rejected", "duplicates")}
            outcomes = evaluate_checks(
                contract,
                uris["bronze_uri"],
                run_counts=run_counts,
                storage_options=lake.options(),
                committed_total=committed_rows_by_ingests(
                    uris["quarantine_uri"], storage_options=lake.options()
                ),
            )
            quality = _validate(settings, contract, uris["bronze_uri"], lake, report, before)
            outcomes += quality_outcomes(quality)
            # Commits of earlier runs that died before recording them: this run's event records them.
            recovered = recover_for_ingest(
                LineageSettings.from_settings(settings),
                ds,
                {"bronze": uris["bronze_uri"], "quarantine": uris["quarantine_uri"]},
                report.results,
                storage_options=lake.options(),
            )
            unavailable = "; ".join(e["error"] for e in report.retryable_errors)
            # A source that could not be reached fails the run (after committing what could be read).
            ledger_index = em.emit(
                ingest_event(
                    "FAIL" if unavailable else "COMPLETE",
                    run=em.run,
                    contract=contract,
                    storage_options=lake.options(),
                    results=report.results,
                    checks=outcomes,
                    recovered=recovered,
                    error=unavailable or None,
                    **uris,
                )
            )
            faults.point("orchestration.ingest.after_ledger")

        # What the event log may show of each error (the full text is in the input's error report).
        input_errors = [{**e, "error": redacted_error(str(e.get("error")))} for e in report.input_errors]
        for err in input_errors:
            context.log.error(f"{ds}: input rejected whole: {err['input']}: {err['error']}")
        new = report.new_inputs
        context.log.info(
            f"{ds}: {len(report.results)} input(s), {len(new)} new; committed {report.total('valid')} rows, "
            f"quarantined {report.total('rejected')}, duplicates dropped {report.total('duplicates')}"
        )
        reasons: dict[str, int] = {}
        for r in new:
            for k, v in r.counts.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        preview = masked_rows(next((r.preview for r in new if r.preview), []), contract)
        common = {
            "inputs": dg.MetadataValue.md(_inputs_md(report)),
            "new_inputs": len(new),
            "rows_read": run_counts["read"],
            "rows_committed": report.appended("bronze"),
            "rows_quarantined": report.appended("quarantine"),
            "duplicates_dropped": run_counts["duplicates"],
            "source_files": dg.MetadataValue.json(
                [
                    {"uri": o.uri, "sha256": o.sha256, "bytes": o.size}
                    for r in report.results
                    for o in r.manifest.objects
                ]
            ),
            "input_errors": dg.MetadataValue.json(input_errors),
            "wall_seconds": round(report.wall_s, 3),
            "source_kinds": ", ".join(sorted({f"{s.name} ({s.kind})" for s in run_sources})),
            "cpu_seconds": round(cost.cpu_s, 3),
            "cost_usd": cost.total_usd,
            "cost_per_1000_events_usd": cost.cost_per_1000_events,
            "ledger_index": ledger_index,
            # Commits of earlier runs that ended before recording them, recorded by this run.
            "ledger_recovered_commits": sum(len(v["commits"]) for v in recovered.values()),
        }
        yield dg.MaterializeResult(
            asset_key=bronze_key(ds),
            metadata={
                **common,
                "delta_version": report.bronze.get("version"),
                "table_rows": report.bronze.get("rows"),
                "table_bytes": report.bronze.get("bytes"),
                "table_uri": uris["bronze_uri"],
                "dagster/row_count": report.bronze.get("rows"),
                "dagster/column_schema": base_meta["dagster/column_schema"],
                "preview": dg.MetadataValue.md(_md_table(preview)),
            },
        )
        yield dg.MaterializeResult(
            asset_key=quarantine_key(ds),
            metadata={
                **common,
                "reasons": dg.MetadataValue.json(dict(sorted(reasons.items()))),
                "delta_version": report.quarantine.get("version"),
                "table_rows": report.quarantine.get("rows"),
                "dagster/row_count": report.quarantine.get("rows"),
                "table_uri": uris["quarantine_uri"],
            },
        )
        yield inputs_check_result(bronze_key(ds), report.input_errors, len(report.results))
        yield from _gx_check_results(ds, quality)
        for outcome in outcomes:
            if outcome.name.startswith("gx:") or outcome.name == "great_expectations":
                continue  # reported by the two great_expectations checks above
            yield dg.AssetCheckResult(
                check_name=outcome.name,
                asset_key=bronze_key(ds),
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR
                if outcome.severity == "error"
                else dg.AssetCheckSeverity.WARN,
                description=outcome.description,
                metadata={
                    k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
                    for k, v in outcome.metadata.items()
                    if v is not None
                },
            )
        if unavailable:
            failure = dg.Failure(
                description=f"{ds}: committed what could be read, but a source was "
                f"unavailable: {unavailable}",
            )
            raise dg.RetryRequested(
                max_retries=UNAVAILABLE_RETRIES, seconds_to_wait=UNAVAILABLE_WAIT_S
            ) from failure

    return _ingest
