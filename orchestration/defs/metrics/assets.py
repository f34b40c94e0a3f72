"""Cost and SLO metrics as assets, with budget and SLO checks, trend plots and the HTML report.

The ingest assets record one cost row per run and dataset (``metrics/cost``); these assets read the
history, evaluate budgets and SLOs against configuration and contracts, store the SLO history
(``metrics/slo``), publish both to the DuckDB catalog and attach plots a person can look at.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from contracts.model import Contract
from lake.catalog import publish_table
from metrics import (
    all_plots,
    append_slo_records,
    evaluate_budgets,
    load_budgets,
    read_cost_history,
    read_slo_history,
    slo_record,
    write_report,
)
from metrics.budgets import OVERALL
from metrics.cost import newest_ingested_at
from metrics.history import table_uri as metrics_table_uri
from metrics.slo import SloPolicy
from orchestration.defs.ingest.assets import bronze_key
from orchestration.defs.lineage.emit import asset_lineage
from orchestration.resources import MaestroResource
from pipeline.checks import evaluate_checks
from pipeline.run import lake_for
from provenance.lineage import catalog_table_spec, delta_table_spec

# A slow 24 h burn warns rather than fails: with a handful of runs a day one bad input is a large
# burn; freshness and pass-rate breaches still fail.
SLO_POLICY = SloPolicy(slow_burn_status="warn")
COST_KEY = dg.AssetKey(["metrics", "cost"])
SLO_KEY = dg.AssetKey(["metrics", "slo"])
REPORT_KEY = dg.AssetKey(["metrics", "report"])


def _check(name: str, key: dg.AssetKey, status: str, messages: list[str], **meta: Any) -> dg.AssetCheckResult:
    """ok -> passed; warn -> failed with WARN severity; fail -> failed with ERROR severity."""
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=key,
        passed=status == "ok",
        severity=dg.AssetCheckSeverity.ERROR if status == "fail" else dg.AssetCheckSeverity.WARN,
        description="; ".join(messages) or "within budget",
        metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v for k, v in meta.items()},
    )


def _worst(statuses: Sequence[str]) -> str:
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"


def _publish(settings: Any, name: str) -> int:
    lake = lake_for(settings)
    uri = metrics_table_uri(lake, name)
    return int(
        publish_table(settings.catalog_path, "metrics", name, uri, storage_options=lake.options())["rows"]
    )


def build_metric_assets(contracts: Mapping[str, Contract]) -> list[dg.AssetsDefinition]:
    datasets = sorted(contracts)
    bronze = [bronze_key(ds) for ds in datasets]

    @dg.asset(
        key=COST_KEY,
        deps=bronze,
        group_name="metrics",
        kinds={"delta", "duckdb"},
        description="Cost of every ingest run per dataset (CPU seconds, wall time, bytes read and written, "
        "storage) priced by metrics/prices.yaml; history in Delta and in the catalog as metrics.cost.",
        check_specs=[
            dg.AssetCheckSpec(
                f"budget_{scope}",
                asset=COST_KEY,
                description=f"Month-to-date spend of {scope} within its budgets "
                "(warn at 80%, fail at 100%; metrics/budgets.yaml).",
            )
            for scope in [*datasets, OVERALL]
        ],
    )
    def cost_metrics(context: dg.AssetExecutionContext, maestro: MaestroResource) -> Any:
        settings = maestro.settings()
        lake = lake_for(settings)
        with asset_lineage(settings, context, "metrics", "cost", source_path="metrics/cost.py") as lineage:
            hist = read_cost_history(lake)
            budgets = load_budgets()
            outcomes = evaluate_budgets(hist, budgets, datasets=datasets)
            rows = _publish(settings, "cost") if hist.height else 0
            uri = metrics_table_uri(lake, "cost")
            ledger_index = lineage.complete(
                inputs=[delta_table_spec(uri, storage_options=lake.options())],
                outputs=[
                    catalog_table_spec(
                        settings.catalog_path, "metrics", "cost", delta_uri=uri, row_count=rows
                    )
                ],
            )
        plots = all_plots(hist, read_slo_history(lake), budgets=budgets)
        latest = hist.sort("started_at").group_by("dataset").last() if hist.height else hist
        yield dg.MaterializeResult(
            asset_key=COST_KEY,
            metadata={
                "cost_trend": dg.MetadataValue.md(plots["cost"].markdown),
                "throughput_trend": dg.MetadataValue.md(plots["throughput"].markdown),
                "runs_recorded": hist.height,
                "total_usd": round(float(hist["total_usd"].sum() or 0.0), 8) if hist.height else 0.0,
                "latest_per_dataset": dg.MetadataValue.json(
                    [
                        {
                            k: (str(v) if k == "started_at" else v)
                            for k, v in r.items()
                            if k
                            in (
                                "dataset",
                                "started_at",
                                "events_ingested",
                                "cpu_s",
                                "bytes_read",
                                "bytes_written",
                                "total_usd",
                                "cost_per_1000_events",
                            )
                        }
                        for r in latest.to_dicts()
                    ]
                ),
                "catalog_table": "metrics.cost",
                "dagster/row_count": rows,
                "ledger_index": ledger_index,
            },
        )
        for scope in [*datasets, OVERALL]:
            mine = [o for o in outcomes if o.scope == scope]
            yield _check(
                f"budget_{scope}",
                COST_KEY,
                _worst([o.status for o in mine]),
                [o.message for o in mine if o.status != "ok"],
                budgets=[o.to_dict() for o in mine],
            )

    @dg.asset(
        key=SLO_KEY,
        deps=[*bronze, COST_KEY],
        group_name="metrics",
        kinds={"delta", "duckdb"},
        description="SLOs per dataset: freshness lag against the contract, throughput, run success rate, "
        "contract pass rate, error budget burn over 1 h and 24 h; history as metrics.slo.",
        check_specs=[
            dg.AssetCheckSpec(
                f"slo_{ds}",
                asset=SLO_KEY,
                description=f"{ds} meets its SLOs (fails when breached, warns on fast burn).",
            )
            for ds in datasets
        ],
    )
    def slo_metrics(context: dg.AssetExecutionContext, maestro: MaestroResource) -> Any:
        settings = maestro.settings()
        lake = lake_for(settings)
        with asset_lineage(settings, context, "metrics", "slo", source_path="metrics/slo.py") as lineage:
            hist = read_cost_history(lake)
            records = []
            for ds in datasets:
                newest = newest_ingested_at(lake.table_uri("bronze", ds), storage_options=lake.options())
                records.append(
                    slo_record(
                        hist, contracts[ds], run_id=context.run_id, last_ingested_at=newest, policy=SLO_POLICY
                    )
                )
            append_slo_records(lake, records)
            rows = _publish(settings, "slo")
            slo_uri = metrics_table_uri(lake, "slo")
            read = [*(lake.table_uri("bronze", ds) for ds in datasets), metrics_table_uri(lake, "cost")]
            ledger_index = lineage.complete(
                inputs=[delta_table_spec(u, storage_options=lake.options()) for u in read],
                outputs=[
                    delta_table_spec(slo_uri, storage_options=lake.options()),
                    catalog_table_spec(
                        settings.catalog_path, "metrics", "slo", delta_uri=slo_uri, row_count=rows
                    ),
                ],
            )
        plots = all_plots(hist, read_slo_history(lake))
        yield dg.MaterializeResult(
            asset_key=SLO_KEY,
            metadata={
                "freshness_trend": dg.MetadataValue.md(plots["freshness"].markdown),
                "pass_rate_trend": dg.MetadataValue.md(plots["pass_rate"].markdown),
                "catalog_table": "metrics.slo",
                "dagster/row_count": rows,
                "ledger_index": ledger_index,
            },
        )
        for rec in records:
            outcomes = json.loads(rec.outcomes)
            yield _check(
                f"slo_{rec.dataset}",
                SLO_KEY,
                _worst([o["status"] for o in outcomes]),
                [o["message"] for o in outcomes if o["status"] != "ok"],
                slos=outcomes,
            )

    @dg.asset(
        key=REPORT_KEY,
        deps=[COST_KEY, SLO_KEY],
        group_name="metrics",
        kinds={"html"},
        description="A static HTML report (quality, cost, SLOs per dataset, with plots) that opens "
        "in a browser.",
    )
    def platform_report(context: dg.AssetExecutionContext, maestro: MaestroResource) -> dg.MaterializeResult:
        settings = maestro.settings()
        lake = lake_for(settings)
        quality = {
            ds: evaluate_checks(contracts[ds], lake.table_uri("bronze", ds), storage_options=lake.options())
            for ds in datasets
        }
        path = write_report(
            settings.home / "reports" / "platform.html",
            read_cost_history(lake),
            read_slo_history(lake),
            quality_results=quality,
            budgets=load_budgets(),
        )
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(path)), "open": f"file://{path}"}
        )

    return [cost_metrics, slo_metrics, platform_report]
