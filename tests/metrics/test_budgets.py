"""Budgets from configuration: warn at 80%, fail at 100%, with messages naming what was spent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from metrics.budgets import (
    Budget,
    evaluate_budget,
    evaluate_budgets,
    evaluate_query_budget,
    evaluate_record_budgets,
    load_budgets,
)
from metrics.exceptions import MetricsConfigError
from tests.metrics.metrics_helpers import NOW, run


def test_the_default_budgets_are_the_plans_unit_targets() -> None:
    config = load_budgets()
    assert config.warn_at == 0.8
    assert config.budget("orders", "usd_per_1000_events").limit_usd == 0.10
    assert config.budget("orders", "usd_per_million_queries").limit_usd == 2.0
    assert config.budget("orders", "monthly_usd") is None
    assert config.budget("overall", "usd_per_1000_events").limit_usd == 0.10


def test_spend_below_80_percent_is_ok() -> None:
    b = Budget(scope="orders", metric="usd_per_1000_events", limit_usd=0.10)
    outcome = evaluate_budget(0.079, b)
    assert outcome.status == "ok" and outcome.ratio == pytest.approx(0.79)


def test_spend_at_80_percent_warns_naming_dataset_budget_and_spend() -> None:
    b = Budget(scope="orders", metric="usd_per_1000_events", limit_usd=0.10)
    outcome = evaluate_budget(0.08, b)  # 0.08 / 0.10 is 0.7999999999999999 in floating point
    assert outcome.status == "warn"
    assert outcome.message == "orders: spent $0.0800 of $0.1000 budget (80%) for cost per 1,000 events"


def test_spend_at_100_percent_fails_naming_dataset_budget_and_spend() -> None:
    b = Budget(scope="orders", metric="usd_per_1000_events", limit_usd=0.01)
    assert evaluate_budget(0.01, b).status == "fail"
    over = evaluate_budget(0.0123, b)
    assert over.status == "fail"
    assert over.message == "orders: spent $0.0123 of $0.0100 budget (123%) for cost per 1,000 events"


def test_a_run_far_below_its_target_says_so() -> None:
    b = Budget(scope="orders", metric="usd_per_1000_events", limit_usd=0.10)
    outcome = evaluate_budget(3.2e-7, b)
    assert outcome.status == "ok"
    assert outcome.message == "orders: spent $0.000000320 of $0.1000 budget (<1%) for cost per 1,000 events"


def test_dataset_overrides_replace_only_the_fields_they_name(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "version: 1\nwarn_at: 0.9\n"
        "defaults: {usd_per_1000_events: 0.10, usd_per_million_queries: 2.0}\n"
        "overall: {monthly_usd: 100}\n"
        "datasets:\n  orders: {usd_per_1000_events: 0.05, monthly_usd: 1.0}\n"
    )
    config = load_budgets(path)
    orders = {b.metric: b.limit_usd for b in config.budgets_for("orders")}
    assert orders == {"usd_per_1000_events": 0.05, "usd_per_million_queries": 2.0, "monthly_usd": 1.0}
    assert {b.metric for b in config.budgets_for("customers")} == {
        "usd_per_1000_events",
        "usd_per_million_queries",
    }
    assert evaluate_budget(0.045, config.budget("orders", "usd_per_1000_events")).status == "warn"


def test_month_to_date_budgets_over_a_history(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "version: 1\ndefaults: {usd_per_1000_events: 0.10, monthly_usd: 1.0}\noverall: {monthly_usd: 2.0}\n"
    )
    config = load_budgets(path)
    history = [
        run(NOW - timedelta(days=1), events=1000, total_usd=0.45),
        run(NOW - timedelta(hours=1), events=1000, total_usd=0.40),  # orders: $0.85 of $1 this month
        run(NOW - timedelta(days=40), events=1000, total_usd=5.0),  # last month: not counted
        run(NOW - timedelta(hours=2), dataset="customers", events=10_000, total_usd=0.2),
    ]
    by = {(o.scope, o.metric): o for o in evaluate_budgets(history, config, now=NOW)}
    assert by[("orders", "monthly_usd")].status == "warn"
    assert by[("orders", "monthly_usd")].spend_usd == pytest.approx(0.85)
    assert by[("orders", "usd_per_1000_events")].status == "fail"  # $0.425 per 1,000 events
    assert "orders: spent $0.4250 of $0.1000 budget (425%)" in by[("orders", "usd_per_1000_events")].message
    assert by[("customers", "usd_per_1000_events")].status == "ok"  # $0.02 per 1,000
    assert by[("overall", "monthly_usd")].spend_usd == pytest.approx(1.05)
    assert by[("overall", "monthly_usd")].status == "ok"


def test_a_single_runs_unit_cost_and_query_cost_are_checked() -> None:
    config = load_budgets()

    class Rec:
        dataset = "orders"
        cost_per_1000_events = 0.09

    [outcome] = evaluate_record_budgets(Rec(), config)
    assert outcome.status == "warn" and outcome.scope == "orders"
    [q] = evaluate_query_budget(0.5, 200_000, config)  # $2.50 per million queries
    assert q.status == "fail" and "cost per million queries" in q.message


def test_an_invalid_budget_file_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("version: 1\ndatasets:\n  orders: {usd_per_1000_events: 0}\n")
    with pytest.raises(MetricsConfigError) as err:
        load_budgets(path)
    assert str(path) in str(err.value) and "datasets.orders.usd_per_1000_events" in str(err.value)
