"""Cost and SLO metrics as library code: measure, price, budget, evaluate, store, plot, report.

Never imports dagster; the orchestration wires these functions into assets and checks:

- after each ingest run: :func:`measure` around the run, :func:`cost_record_for_report`,
  :func:`append_cost_records`, :func:`evaluate_record_budgets`;
- in the metric assets: :func:`read_cost_history`, :func:`slo_record` / :func:`evaluate_slos`,
  :func:`append_slo_records`, :func:`evaluate_budgets`, :func:`publish_metrics`, :func:`all_plots`
  and :func:`write_report`.
"""

from metrics.budgets import (
    Budget,
    BudgetConfig,
    BudgetOutcome,
    evaluate_budget,
    evaluate_budgets,
    evaluate_query_budget,
    evaluate_record_budgets,
    load_budgets,
)
from metrics.cost import (
    CostRecord,
    Requests,
    Usage,
    bytes_read_from_manifests,
    bytes_written_by,
    commit_added_bytes,
    cost_record,
    cost_record_for_report,
    measure,
    newest_ingested_at,
    storage_bytes,
)
from metrics.exceptions import MetricsConfigError, MetricsError, MetricsStoreError
from metrics.history import (
    append_cost_records,
    append_slo_records,
    publish_metrics,
    read_cost_history,
    read_slo_history,
)
from metrics.plots import (
    Plot,
    all_plots,
    cost_plot,
    freshness_plot,
    pass_rate_plot,
    throughput_plot,
)
from metrics.prices import CostComponents, PriceTable, load_prices, price
from metrics.report import render_report, write_report
from metrics.slo import SloOutcome, SloPolicy, SloRecord, burn_rate, evaluate_slos, slo_record

__all__ = [
    "Budget",
    "BudgetConfig",
    "BudgetOutcome",
    "CostComponents",
    "CostRecord",
    "MetricsConfigError",
    "MetricsError",
    "MetricsStoreError",
    "Plot",
    "PriceTable",
    "Requests",
    "SloOutcome",
    "SloPolicy",
    "SloRecord",
    "Usage",
    "all_plots",
    "append_cost_records",
    "append_slo_records",
    "burn_rate",
    "bytes_read_from_manifests",
    "bytes_written_by",
    "commit_added_bytes",
    "cost_plot",
    "cost_record",
    "cost_record_for_report",
    "evaluate_budget",
    "evaluate_budgets",
    "evaluate_query_budget",
    "evaluate_record_budgets",
    "evaluate_slos",
    "freshness_plot",
    "load_budgets",
    "load_prices",
    "measure",
    "newest_ingested_at",
    "pass_rate_plot",
    "price",
    "publish_metrics",
    "read_cost_history",
    "read_slo_history",
    "render_report",
    "slo_record",
    "storage_bytes",
    "throughput_plot",
    "write_report",
]
