"""SLOs per dataset: freshness against the contract, success and pass rates, error-budget burn."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from contracts.loader import load_contracts
from lake.delta import Lake
from metrics.slo import SloPolicy, burn_rate, evaluate_slos, outcomes_of, slo_record
from tests.metrics.metrics_helpers import NOW, hourly_runs, measured_ingest, orders_csv, run

ORDERS = load_contracts()["orders"]  # freshness: max_lag 2h, warn_after 1h; completeness_min 0.95


def _by_name(outcomes):  # type: ignore[no-untyped-def]
    return {o.name: o for o in outcomes}


def test_a_fresh_healthy_dataset_passes_every_slo() -> None:
    history = hourly_runs(NOW, 24, last_ingested_at=NOW - timedelta(minutes=10))
    outcomes = evaluate_slos(history, ORDERS, NOW)
    assert {o.status for o in outcomes} == {"ok"}, [o.message for o in outcomes if o.status != "ok"]
    by = _by_name(outcomes)
    assert by["freshness"].value == pytest.approx(600)
    assert by["freshness"].target == 7200
    assert by["success_rate"].value == 1.0
    assert by["pass_rate"].value == pytest.approx(0.99)
    assert by["throughput"].value == pytest.approx(1000)


def test_freshness_fails_past_the_contracts_slo_naming_dataset_lag_and_slo() -> None:
    history = hourly_runs(NOW, 24, last_ingested_at=NOW - timedelta(hours=3, minutes=5))
    fresh = _by_name(evaluate_slos(history, ORDERS, NOW))["freshness"]
    assert fresh.status == "fail"
    assert fresh.message.startswith("orders: freshness lag 3h 5m breaches the SLO of 2h")


def test_freshness_warns_past_warn_after() -> None:
    history = hourly_runs(NOW, 3, last_ingested_at=NOW - timedelta(minutes=90))
    fresh = _by_name(evaluate_slos(history, ORDERS, NOW))["freshness"]
    assert fresh.status == "warn" and "past warn_after 1h" in fresh.message


def test_a_dataset_never_ingested_fails_freshness() -> None:
    fresh = _by_name(evaluate_slos([], ORDERS, NOW))["freshness"]
    assert fresh.status == "fail" and "no ingested data" in fresh.message


def test_freshness_comes_from_the_real_ingest_time_of_the_bronze_rows(tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    orders_csv(tmp_path / "old.csv", 300)
    _, old = measured_ingest(tmp_path / "old.csv", lake, run_id="old", now=NOW - timedelta(hours=5))
    stale = _by_name(evaluate_slos([old], ORDERS, NOW))["freshness"]
    assert stale.status == "fail" and "5h" in stale.message

    orders_csv(tmp_path / "new.csv", 300, start=1000)
    _, new = measured_ingest(tmp_path / "new.csv", lake, run_id="new", now=NOW - timedelta(minutes=5))
    fresh = _by_name(evaluate_slos([old, new], ORDERS, NOW))["freshness"]
    assert fresh.status == "ok" and fresh.value == pytest.approx(300, abs=1)


def test_a_fast_burn_in_the_last_hour_warns() -> None:
    # A run every 5 minutes for a day; 2 of the last hour's 12 runs failed.
    history = [
        run(NOW - timedelta(minutes=5 * i + 1), status="failed" if i in (1, 4) else "success")
        for i in range(288)
    ]
    by = _by_name(evaluate_slos(history, ORDERS, NOW))
    fast = by["success_burn_1h"]
    assert fast.status == "warn"
    assert fast.value == pytest.approx((2 / 12) / 0.01)  # 16.7x the allowed 1% error rate
    assert "fast burn" in fast.message and "orders" in fast.message
    assert by["success_burn_24h"].status == "ok"  # 2 / 288 = 0.69% < 1%: budget still accrues
    assert by["success_rate"].status == "ok"
    assert by["freshness"].status == "ok"


def test_a_slow_burn_over_24_hours_fails_by_default_and_can_be_a_warning() -> None:
    history = hourly_runs(NOW, 24)
    history[5]["status"] = "failed"  # 1 of 24 runs: 4.2% errors against 1% allowed
    by = _by_name(evaluate_slos(history, ORDERS, NOW))
    assert by["success_burn_1h"].status == "ok"
    assert by["success_burn_24h"].status == "fail"
    assert by["success_burn_24h"].value == pytest.approx((1 / 24) / 0.01)
    lenient = SloPolicy(slow_burn_status="warn")
    assert _by_name(evaluate_slos(history, ORDERS, NOW, policy=lenient))["success_burn_24h"].status == "warn"


def test_the_pass_rate_budget_is_the_contracts_completeness_min() -> None:
    history = hourly_runs(NOW, 24, quarantined=10)
    history[0]["rows_quarantined"] = 200  # the last hour quarantined 20% against 5% allowed
    by = _by_name(evaluate_slos(history, ORDERS, NOW))
    assert by["pass_burn_1h"].value == pytest.approx(0.2 / 0.05)
    assert by["pass_burn_1h"].status == "ok"  # 4x is not a fast burn
    assert by["pass_burn_24h"].status == "ok"  # (23 * 10 + 200) / 24,000 = 1.8% < 5%
    history[0]["rows_quarantined"] = 900
    by = _by_name(evaluate_slos(history, ORDERS, NOW))
    assert by["pass_burn_1h"].status == "warn"  # 90% / 5% = 18x


def test_burn_rate_is_observed_over_allowed_error_rate() -> None:
    assert burn_rate(0.144, 0.99) == pytest.approx(14.4)
    assert burn_rate(0.0, 1.0) == 0 and math.isinf(burn_rate(0.01, 1.0))


def test_an_slo_record_keeps_values_statuses_and_outcomes() -> None:
    history = hourly_runs(NOW, 24, last_ingested_at=NOW - timedelta(hours=3))
    rec = slo_record(history, ORDERS, NOW, run_id="eval-1")
    assert (rec.dataset, rec.run_id, rec.status) == ("orders", "eval-1", "fail")
    assert rec.freshness_lag_s == pytest.approx(3 * 3600) and rec.freshness_slo_s == 7200
    assert rec.pass_target == 0.95 and rec.success_target == 0.99 and rec.runs_in_window == 24
    assert "freshness lag 3h breaches the SLO of 2h" in rec.message
    row = rec.to_row()
    assert [o.name for o in outcomes_of(row)] == [o.name for o in rec.parsed]
    json.loads(row["outcomes"])
