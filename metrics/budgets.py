"""Budgets per dataset and overall, from configuration, and the checks against them.

``metrics/budgets.yaml`` holds the ceilings: by default the plan's unit targets ($0.10 per 1,000
ingested events, $2 per million queries) and optional absolute monthly budgets. A spend warns at
``warn_at`` (80%) of its budget and fails at 100%:

>>> b = Budget(scope="orders", metric="usd_per_1000_events", limit_usd=0.01)
>>> evaluate_budget(0.0123, b).message
'orders: spent $0.0123 of $0.0100 budget (123%) for cost per 1,000 events'
>>> evaluate_budget(0.008, b).status
'warn'

:func:`evaluate_record_budgets` checks one run's unit cost (after each ingest);
:func:`evaluate_budgets` checks the month to date of a cost history (the metrics asset).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from metrics.prices import load_yaml_model
from metrics.tables import cost_frame

DEFAULT_BUDGETS = Path(__file__).with_name("budgets.yaml")
OVERALL = "overall"
Metric = Literal["usd_per_1000_events", "usd_per_million_queries", "monthly_usd"]
Status = Literal["ok", "warn", "fail"]
LABELS: dict[str, str] = {
    "usd_per_1000_events": "cost per 1,000 events",
    "usd_per_million_queries": "cost per million queries",
    "monthly_usd": "monthly spend",
}
_EPS = 1e-9  # 0.08 / 0.10 is 0.7999999999999999 in binary floating point: still "80%"


def fmt_usd(x: float | None) -> str:
    """Dollars with enough digits to see a small unit cost: $0.0123, $0.00000214, $1,234.50."""
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "$inf"
    if x == 0:
        return "$0"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    digits = max(4, -math.floor(math.log10(abs(x))) + 2)
    return f"${x:.{digits}f}"


def fmt_ratio(ratio: float) -> str:
    """``123%``; ``<1%`` for a small but non-zero share (a unit cost far below its target)."""
    return "<1%" if 0 < ratio < 0.005 else f"{ratio:.0%}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetLimits(_Strict):
    usd_per_1000_events: float | None = Field(default=None, gt=0)
    usd_per_million_queries: float | None = Field(default=None, gt=0)
    monthly_usd: float | None = Field(default=None, gt=0)


class BudgetConfig(_Strict):
    version: int = Field(ge=1)
    warn_at: float = Field(default=0.8, gt=0, le=1)
    defaults: BudgetLimits = Field(default_factory=BudgetLimits)
    overall: BudgetLimits = Field(default_factory=BudgetLimits)
    datasets: dict[str, BudgetLimits] = Field(default_factory=dict)

    def limits_for(self, dataset: str) -> BudgetLimits:
        """The dataset's limits: its overrides (including explicit nulls) over the defaults."""
        if dataset == OVERALL:
            return self.overall
        override = self.datasets.get(dataset)
        if override is None:
            return self.defaults
        merged = self.defaults.model_dump()
        merged.update({k: getattr(override, k) for k in override.model_fields_set})
        return BudgetLimits(**merged)

    def budgets_for(self, dataset: str) -> list[Budget]:
        limits = self.limits_for(dataset)
        return [
            Budget(scope=dataset, metric=m, limit_usd=v, warn_at=self.warn_at)  # type: ignore[arg-type]
            for m, v in limits.model_dump().items()
            if v is not None and m in LABELS
        ]

    def budget(self, dataset: str, metric: Metric) -> Budget | None:
        return next((b for b in self.budgets_for(dataset) if b.metric == metric), None)


def load_budgets(path: str | Path | None = None) -> BudgetConfig:
    """The budgets at ``path`` (default: the packaged ``metrics/budgets.yaml``), validated."""
    return load_yaml_model(path or DEFAULT_BUDGETS, BudgetConfig, what="budget")


@dataclass(frozen=True)
class Budget:
    scope: str
    """A dataset name, or ``overall``."""
    metric: Metric
    limit_usd: float
    warn_at: float = 0.8

    @property
    def label(self) -> str:
        return LABELS[self.metric]


@dataclass(frozen=True)
class BudgetOutcome:
    status: Status
    ratio: float
    message: str
    scope: str = ""
    metric: str = ""
    spend_usd: float = 0.0
    limit_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ratio": self.ratio,
            "message": self.message,
            "scope": self.scope,
            "metric": self.metric,
            "spend_usd": self.spend_usd,
            "limit_usd": self.limit_usd,
        }


def evaluate_budget(spend: float, budget: Budget) -> BudgetOutcome:
    """``fail`` when ``spend`` reaches the budget, ``warn`` from ``budget.warn_at`` of it."""
    ratio = spend / budget.limit_usd
    status: Status = "fail" if ratio >= 1 - _EPS else "warn" if ratio >= budget.warn_at - _EPS else "ok"
    message = (
        f"{budget.scope}: spent {fmt_usd(spend)} of {fmt_usd(budget.limit_usd)} budget "
        f"({fmt_ratio(ratio)}) for {budget.label}"
    )
    return BudgetOutcome(status, ratio, message, budget.scope, budget.metric, spend, budget.limit_usd)


def evaluate_record_budgets(record: Any, config: BudgetConfig) -> list[BudgetOutcome]:
    """One run's cost per 1,000 events against its dataset's budget (none without events)."""
    budget = config.budget(record.dataset, "usd_per_1000_events")
    if budget is None or record.cost_per_1000_events is None:
        return []
    return [evaluate_budget(record.cost_per_1000_events, budget)]


def evaluate_query_budget(
    total_usd: float, queries: int, config: BudgetConfig, *, scope: str = OVERALL
) -> list[BudgetOutcome]:
    """``total_usd`` spent serving ``queries`` queries, per million, against ``scope``'s budget."""
    budget = config.budget(scope, "usd_per_million_queries")
    if budget is None or queries <= 0:
        return []
    return [evaluate_budget(total_usd / queries * 1_000_000, budget)]


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def evaluate_budgets(
    cost_history: pl.DataFrame | Iterable[Any],
    config: BudgetConfig,
    *,
    now: datetime | None = None,
    datasets: Sequence[str] | None = None,
) -> list[BudgetOutcome]:
    """Month-to-date budgets per dataset and overall over ``cost_history`` (``metrics/cost`` rows).

    Cost per 1,000 events is the month's total cost (every run, no-op runs too) over its
    events; monthly spend is the sum of the runs' ``total_usd`` since the first of the month (UTC).
    Datasets with no runs this month and no monthly budget are left out.
    """
    now = now or datetime.now(UTC)
    frame = cost_frame(cost_history)
    month = frame.filter((pl.col("started_at") >= month_start(now)) & (pl.col("started_at") <= now))
    names = list(datasets) if datasets is not None else sorted(set(frame["dataset"].to_list()))
    outcomes: list[BudgetOutcome] = []
    for scope in [*names, OVERALL]:
        rows = month if scope == OVERALL else month.filter(pl.col("dataset") == scope)
        total = float(rows["total_usd"].sum() or 0.0)
        events = int(rows["events_ingested"].sum() or 0)
        for budget in config.budgets_for(scope):
            if budget.metric == "usd_per_1000_events" and events:
                outcomes.append(evaluate_budget(total / events * 1000, budget))
            elif budget.metric == "monthly_usd":
                outcomes.append(evaluate_budget(total, budget))
    return outcomes


def worst(statuses: Iterable[str]) -> Status:
    """The worst of ``ok`` < ``warn`` < ``fail`` (``ok`` for none)."""
    order = {"ok": 0, "warn": 1, "fail": 2}
    found: list[Status] = [s for s in statuses if s in order]  # type: ignore[misc]
    return max(found, key=order.__getitem__, default="ok")
