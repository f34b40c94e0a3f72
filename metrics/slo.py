"""Service-level objectives per dataset, evaluated over the run history (``metrics/cost`` rows).

Indicators and their objectives:

- **freshness**: ``now`` minus the newest ``_ingested_at`` in bronze (the run history's
  ``last_ingested_at``, or a value the caller passes). Fails past the contract's
  ``freshness.max_lag``, warns past ``freshness.warn_after``. No data at all fails.
- **throughput**: rows read per wall second over the window (informational unless the policy
  sets a floor).
- **success rate**: runs without failed inputs / runs, over ``policy.window`` (7 days); fails
  below ``policy.success_target`` (99%).
- **pass rate**: rows that kept the contract / rows read = 1 - quarantined / read, over the
  window; fails below the contract's ``completeness_min``. (It equals committed / read when no
  exact duplicates were dropped; duplicates are not contract failures, the same as the
  ``quarantine_rate`` contract check.)
- **error budget burn rate**, for success and pass rate: observed error rate over a window /
  allowed error rate (1 - target). The standard multi-window alerts (Google SRE workbook, "Alerting
  on SLOs"): burn >= 14.4 over 1 hour spends 2% of a 30-day budget in an hour, a fast burn: warn.
  Burn >= 1 over 24 hours means the budget is being spent faster than it accrues: by default this
  fails (``SloPolicy.slow_burn_status``), as the plan asks; set it to ``warn`` for a ticket-only
  alert. A window with no runs has no burn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl

from contracts.model import Contract, parse_duration
from metrics.budgets import worst
from metrics.tables import cost_frame

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class SloPolicy:
    success_target: float = 0.99
    window: timedelta = timedelta(days=7)
    fast_window: timedelta = timedelta(hours=1)
    slow_window: timedelta = timedelta(hours=24)
    fast_burn: float = 14.4
    slow_burn: float = 1.0
    fast_burn_status: Status = "warn"
    slow_burn_status: Status = "fail"
    min_throughput_rows_per_s: float | None = None


@dataclass(frozen=True)
class SloOutcome:
    name: str
    status: Status
    message: str
    value: float | None
    target: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SloRecord:
    """One evaluation of one dataset's SLOs (a row of the ``metrics/slo`` table)."""

    evaluated_at: datetime
    dataset: str
    run_id: str
    freshness_lag_s: float | None
    freshness_slo_s: float
    freshness_warn_s: float | None
    throughput_rows_per_s: float | None
    success_rate: float | None
    success_target: float
    pass_rate: float | None
    pass_target: float
    success_burn_1h: float | None
    success_burn_24h: float | None
    pass_burn_1h: float | None
    pass_burn_24h: float | None
    runs_in_window: int
    status: Status
    message: str
    outcomes: str
    """The outcomes as JSON (name, status, message, value, target), for reports."""
    parsed: list[SloOutcome] = field(default_factory=list, compare=False)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("parsed")
        return row


def fmt_duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 12m``, ``2d 3h``."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def burn_rate(error_rate: float, target: float) -> float:
    """Observed error rate / allowed error rate (1 - target); infinite when nothing is allowed."""
    allowed = 1 - target
    if allowed <= 0:
        return math.inf if error_rate > 0 else 0.0
    return error_rate / allowed


def _in_window(h: pl.DataFrame, now: datetime, window: timedelta) -> pl.DataFrame:
    return h.filter((pl.col("started_at") > now - window) & (pl.col("started_at") <= now))


def _rates(rows: pl.DataFrame) -> tuple[int, float | None, float | None, int]:
    """(runs, success rate, pass rate, events) of ``rows``."""
    n = rows.height
    failed = rows.filter(pl.col("status") == "failed").height
    events = int(rows["events_ingested"].sum() or 0)
    quarantined = int(rows["rows_quarantined"].sum() or 0)
    return (
        n,
        ((n - failed) / n if n else None),
        ((events - quarantined) / events if events else None),
        events,
    )


def evaluate_slos(
    history: pl.DataFrame | Iterable[Any],
    contract: Contract,
    now: datetime | None = None,
    *,
    policy: SloPolicy | None = None,
    last_ingested_at: datetime | None = None,
) -> list[SloOutcome]:
    """The dataset's SLO outcomes at ``now`` from its run history (cost records or their table)."""
    policy = policy or SloPolicy()
    now = now or datetime.now(UTC)
    ds = contract.name
    h = cost_frame(history).filter(pl.col("dataset") == ds)
    out: list[SloOutcome] = []

    # Freshness.
    newest = last_ingested_at
    if newest is None and h.height:
        newest = h["last_ingested_at"].max()  # type: ignore[assignment]
    slo_s = contract.freshness_max_lag.total_seconds()
    warn_s = (
        parse_duration(contract.freshness.warn_after).total_seconds()
        if contract.freshness.warn_after
        else None
    )
    if newest is None:
        out.append(
            SloOutcome(
                "freshness",
                "fail",
                f"{ds}: no ingested data found, so the freshness SLO of "
                f"{fmt_duration(slo_s)} is breached; ingest the dataset",
                None,
                slo_s,
            )
        )
    else:
        lag = max(0.0, (now - newest).total_seconds())
        since = f"newest data ingested {newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if lag > slo_s:
            out.append(
                SloOutcome(
                    "freshness",
                    "fail",
                    f"{ds}: freshness lag {fmt_duration(lag)} breaches the SLO of "
                    f"{fmt_duration(slo_s)} ({since})",
                    lag,
                    slo_s,
                )
            )
        elif warn_s is not None and lag > warn_s:
            out.append(
                SloOutcome(
                    "freshness",
                    "warn",
                    f"{ds}: freshness lag {fmt_duration(lag)} is past warn_after "
                    f"{fmt_duration(warn_s)} (SLO {fmt_duration(slo_s)}; {since})",
                    lag,
                    slo_s,
                )
            )
        else:
            out.append(
                SloOutcome(
                    "freshness",
                    "ok",
                    f"{ds}: freshness lag {fmt_duration(lag)} within the SLO of {fmt_duration(slo_s)}",
                    lag,
                    slo_s,
                )
            )

    window = _in_window(h, now, policy.window)
    n, success, passed, events = _rates(window)
    span = fmt_duration(policy.window.total_seconds())

    # Throughput.
    busy = window.filter(pl.col("events_ingested") > 0)
    wall = float(busy["wall_s"].sum() or 0.0)
    tput = events / wall if events and wall > 0 else None
    floor = policy.min_throughput_rows_per_s
    t_status: Status = "fail" if floor is not None and tput is not None and tput < floor else "ok"
    t_msg = (
        f"{ds}: {tput:,.0f} rows/s over the last {span}"
        if tput is not None
        else f"{ds}: no rows ingested in the last {span}"
    )
    out.append(
        SloOutcome(
            "throughput",
            t_status,
            t_msg + (f" (floor {floor:,.0f} rows/s)" if floor else ""),
            tput,
            floor,
        )
    )

    # Success rate and pass rate over the window.
    target = policy.success_target
    if success is None:
        out.append(SloOutcome("success_rate", "ok", f"{ds}: no runs in the last {span}", None, target))
    else:
        st: Status = "fail" if success < target - 1e-12 else "ok"
        out.append(
            SloOutcome(
                "success_rate",
                st,
                f"{ds}: {success:.1%} of {n} runs succeeded in the last {span} (target {target:.1%})",
                success,
                target,
            )
        )
    pt = contract.completeness_min
    if passed is None:
        out.append(SloOutcome("pass_rate", "ok", f"{ds}: no rows read in the last {span}", None, pt))
    else:
        ps: Status = "fail" if passed < pt - 1e-12 else "ok"
        out.append(
            SloOutcome(
                "pass_rate",
                ps,
                f"{ds}: {passed:.2%} of {events:,} rows kept the contract in the "
                f"last {span} (completeness_min {pt:.0%})",
                passed,
                pt,
            )
        )

    # Error budget burn, fast (1 h) and slow (24 h) windows.
    for w, threshold, bad, tag in (
        (policy.fast_window, policy.fast_burn, policy.fast_burn_status, "1h"),
        (policy.slow_window, policy.slow_burn, policy.slow_burn_status, "24h"),
    ):
        wn, ws, wp, _ = _rates(_in_window(h, now, w))
        for sli, rate, tgt in (("success", ws, target), ("pass", wp, pt)):
            name = f"{sli}_burn_{tag}"
            if rate is None:
                out.append(
                    SloOutcome(
                        name,
                        "ok",
                        f"{ds}: no {'runs' if sli == 'success' else 'rows'} in the "
                        f"last {tag}, no {sli}-rate budget burnt",
                        None,
                        threshold,
                    )
                )
                continue
            burn = burn_rate(1 - rate, tgt)
            status: Status = bad if burn >= threshold else "ok"
            kind = "fast burn" if tag == "1h" else "budget burn"
            verdict = f"{kind} >= {threshold:g}" if status != "ok" else f"below {threshold:g}"
            out.append(
                SloOutcome(
                    name,
                    status,
                    f"{ds}: {sli}-rate error budget burning at {burn:.1f}x over the "
                    f"last {tag} ({verdict}; error rate {1 - rate:.2%}, allowed {1 - tgt:.2%})",
                    burn,
                    threshold,
                )
            )
    return out


def slo_record(
    history: pl.DataFrame | Iterable[Any],
    contract: Contract,
    now: datetime | None = None,
    *,
    run_id: str = "",
    policy: SloPolicy | None = None,
    last_ingested_at: datetime | None = None,
) -> SloRecord:
    """Evaluate :func:`evaluate_slos` and keep the values and outcomes as one storable record."""
    policy = policy or SloPolicy()
    now = now or datetime.now(UTC)
    outcomes = evaluate_slos(history, contract, now, policy=policy, last_ingested_at=last_ingested_at)
    by = {o.name: o for o in outcomes}
    h = cost_frame(history).filter(pl.col("dataset") == contract.name)
    warn_after = contract.freshness.warn_after
    return SloRecord(
        evaluated_at=now,
        dataset=contract.name,
        run_id=run_id or now.isoformat(),
        freshness_lag_s=by["freshness"].value,
        freshness_slo_s=contract.freshness_max_lag.total_seconds(),
        freshness_warn_s=parse_duration(warn_after).total_seconds() if warn_after else None,
        throughput_rows_per_s=by["throughput"].value,
        success_rate=by["success_rate"].value,
        success_target=policy.success_target,
        pass_rate=by["pass_rate"].value,
        pass_target=contract.completeness_min,
        success_burn_1h=by["success_burn_1h"].value,
        success_burn_24h=by["success_burn_24h"].value,
        pass_burn_1h=by["pass_burn_1h"].value,
        pass_burn_24h=by["pass_burn_24h"].value,
        runs_in_window=_in_window(h, now, policy.window).height,
        status=worst(o.status for o in outcomes),
        message="; ".join(o.message for o in outcomes if o.status != "ok"),
        outcomes=json.dumps([o.to_dict() for o in outcomes]),
        parsed=outcomes,
    )


def outcomes_of(record_row: dict[str, Any]) -> list[SloOutcome]:
    """The outcomes stored in a ``metrics/slo`` row (or an :class:`SloRecord`'s ``to_row()``)."""
    raw = json.loads(record_row.get("outcomes") or "[]")
    return [SloOutcome(**o) for o in raw]
