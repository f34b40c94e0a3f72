"""A self-contained static HTML report of quality, cost, SLOs and budgets per dataset.

One file, no external resources: inline CSS, the trend plots embedded as PNG ``data:`` URIs, so
it can be archived, mailed or attached to a Dagster run as-is. Status badges are coloured
(ok green, warn amber, fail red). All text from the data is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from metrics.budgets import (
    OVERALL,
    BudgetConfig,
    BudgetOutcome,
    evaluate_budgets,
    fmt_ratio,
    fmt_usd,
    load_budgets,
    worst,
)
from metrics.plots import all_plots
from metrics.slo import SloOutcome, fmt_duration, outcomes_of
from metrics.tables import cost_frame, slo_frame

CSS = """
* { box-sizing: border-box }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827;
       background: #f3f4f6; margin: 0; padding: 24px }
main { max-width: 1220px; margin: 0 auto }
h1 { font-size: 22px; margin: 0 0 4px }
h2 { font-size: 17px; margin: 0 }
h3 { font-size: 13px; margin: 16px 0 6px; color: #374151; text-transform: uppercase;
     letter-spacing: .04em }
.sub { color: #6b7280; font-size: 12px }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px 18px;
        margin: 16px 0 }
.head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap }
.head h2 { margin-right: 8px }
.plots { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px }
.plots img { width: 100%; height: auto; border: 1px solid #e5e7eb; border-radius: 6px }
table { border-collapse: collapse; width: 100%; font-size: 12.5px }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #f0f1f3; vertical-align: top }
th { color: #6b7280; font-weight: 600; background: #f9fafb }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px;
         font-weight: 600; white-space: nowrap }
.ok { background: #dcfce7; color: #166534 }
.warn { background: #fef3c7; color: #92400e }
.fail { background: #fee2e2; color: #991b1b }
.na { background: #e5e7eb; color: #4b5563 }
.msg { color: #4b5563 }
.empty { color: #6b7280; font-style: italic }
footer { color: #6b7280; font-size: 12px; margin-top: 20px }
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def badge(status: str | None, text: str | None = None) -> str:
    cls = status if status in ("ok", "warn", "fail") else "na"
    return f'<span class="badge {cls}">{_e(text or status or "n/a")}</span>'


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "n/a"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def _num(v: float | None, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    if not rows:
        return '<p class="empty">none recorded</p>'
    num = set(numeric)
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in num else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _quality_rows(items: Sequence[Any]) -> tuple[list[list[str]], str]:
    rows, statuses = [], []
    for q in items:
        get = q.get if isinstance(q, Mapping) else (lambda k, d=None, _q=q: getattr(_q, k, d))
        passed, severity = get("passed"), get("severity", "error")
        status = get("status") or ("ok" if passed else ("warn" if severity == "warn" else "fail"))
        statuses.append(status)
        rows.append(
            [
                _e(get("name") or get("check")),
                _e(severity),
                badge(status, "passed" if status == "ok" else "failed"),
                f'<span class="msg">{_e(get("description") or get("message"))}</span>',
            ]
        )
    return rows, (worst(statuses) if statuses else "n/a")


def _normalise_quality(
    quality: Mapping[str, Sequence[Any]] | Sequence[Any] | None,
) -> dict[str, list[Any]]:
    if quality is None:
        return {}
    if isinstance(quality, Mapping):
        return {k: list(v) for k, v in quality.items()}
    out: dict[str, list[Any]] = {}
    for q in quality:
        ds = q.get("dataset") if isinstance(q, Mapping) else getattr(q, "dataset", None)
        out.setdefault(str(ds), []).append(q)
    return out


def _slo_value(o: SloOutcome) -> tuple[str, str]:
    def rate(v: float | None) -> str:
        return _num(None if v is None else 100 * v, ".2f") + ("%" if v is not None else "")

    if o.name == "freshness":
        return fmt_duration(o.value), fmt_duration(o.target)
    if o.name == "throughput":
        return _num(o.value, ",.0f") + (" rows/s" if o.value is not None else ""), (
            _num(o.target, ",.0f") if o.target else "none"
        )
    if o.name in ("success_rate", "pass_rate"):
        return rate(o.value), rate(o.target)
    return (_num(o.value, ".2f") + "x" if o.value is not None else "n/a"), f"< {_num(o.target, 'g')}x"


def _run_id(run_id: str) -> str:
    """Dagster run ids are UUIDs: show the first 8 characters, as the Dagster UI does."""
    short = run_id[:8] if len(run_id) == 36 and run_id.count("-") == 4 else run_id
    return f'<span title="{_e(run_id)}">{_e(short)}</span>'


def _cost_rows(runs: pl.DataFrame) -> list[list[str]]:
    rows = []
    for r in runs.sort("started_at", descending=True).iter_rows(named=True):
        rows.append(
            [
                _run_id(r["run_id"]),
                _e(f"{r['started_at']:%Y-%m-%d %H:%M}"),
                badge("ok" if r["status"] == "success" else "fail", r["status"]),
                _num(r["cpu_s"], ".3f"),
                _num(r["wall_s"], ".3f"),
                fmt_bytes(r["bytes_read"]),
                fmt_bytes(r["bytes_written"]),
                fmt_bytes(r["storage_bytes"]),
                "n/a" if r["requests"] is None else f"{r['requests']:,}",
                f"{r['events_ingested']:,}",
                fmt_usd(r["total_usd"]),
                fmt_usd(r["cost_per_1000_events"]),
            ]
        )
    return rows


def _budget_rows(outcomes: Sequence[BudgetOutcome]) -> list[list[str]]:
    from metrics.budgets import LABELS

    return [
        [
            _e(LABELS.get(o.metric, o.metric)),
            fmt_usd(o.spend_usd),
            fmt_usd(o.limit_usd),
            fmt_ratio(o.ratio),
            badge(o.status),
            f'<span class="msg">{_e(o.message)}</span>',
        ]
        for o in outcomes
    ]


COST_HEADERS = ["run", "started (UTC)", "status", "CPU s", "wall s", "read", "written", "storage",
                "requests", "events", "total", "per 1,000 events"]  # fmt: skip
SLO_HEADERS = ["objective", "value", "target", "status", "detail"]
BUDGET_HEADERS = ["budget", "spend", "limit", "used", "status", "detail"]
SUMMARY_HEADERS = ["dataset", "quality", "SLOs", "budget", "runs", "last cost / 1,000 events",
                   "freshness lag"]  # fmt: skip
QUALITY_HEADERS = ["check", "severity", "result", "description"]
FOOTER = (
    "Costs are measured resource use (CPU seconds, bytes read and written, storage, object-store "
    "requests when counted) priced with metrics/prices.yaml (public cloud list prices). Budgets "
    "from metrics/budgets.yaml warn at 80% and fail at 100%."
)


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _components(r: Mapping[str, Any]) -> str:
    counted = "" if r["requests"] is not None else " (not counted)"
    return (
        f'<p class="sub">Latest run: compute {fmt_usd(r["compute_usd"])}, storage '
        f"{fmt_usd(r['storage_usd'])}, requests {fmt_usd(r['requests_usd'])}{counted}, transfer "
        f"{fmt_usd(r['transfer_usd'])}; table storage {fmt_bytes(r['storage_bytes'])} = "
        f"{fmt_usd(r['storage_month_usd'])}/month. Prices {_e(r['prices_id'])}.</p>"
    )


def _dataset_card(
    ds: str,
    runs: pl.DataFrame,
    outcomes: Sequence[SloOutcome],
    quality: Sequence[Any],
    budget_outcomes: Sequence[BudgetOutcome],
    recent_runs: int,
) -> tuple[list[str], str]:
    """(summary row, card HTML) of one dataset."""
    q_rows, q_status = _quality_rows(quality)
    s_status = worst(o.status for o in outcomes) if outcomes else "n/a"
    b_status = worst(o.status for o in budget_outcomes) if budget_outcomes else "n/a"
    last = runs.sort("started_at").tail(1).to_dicts()
    freshness = next((o for o in outcomes if o.name == "freshness"), None)
    summary = [
        f"<b>{_e(ds)}</b>", badge(q_status), badge(s_status), badge(b_status), f"{runs.height:,}",
        fmt_usd(last[0]["cost_per_1000_events"]) if last else "n/a",
        fmt_duration(freshness.value) if freshness else "n/a",
    ]  # fmt: skip
    slo_rows = []
    for o in outcomes:
        value, target = _slo_value(o)
        slo_rows.append([_e(o.name.replace("_", " ")), value, _e(target), badge(o.status),
                         f'<span class="msg">{_e(o.message)}</span>'])  # fmt: skip
    card = "".join([
        f'<section class="card"><div class="head"><h2>{_e(ds)}</h2>',
        f"quality {badge(q_status)} SLOs {badge(s_status)} budget {badge(b_status)}</div>",
        "<h3>Quality checks</h3>", _table(QUALITY_HEADERS, q_rows),
        f"<h3>Cost, last {recent_runs} runs</h3>",
        _table(COST_HEADERS, _cost_rows(runs.sort("started_at").tail(recent_runs)), range(3, 12)),
        _components(last[0]) if last else "",
        "<h3>SLOs</h3>", _table(SLO_HEADERS, slo_rows, [1, 2]),
        "<h3>Budgets (month to date)</h3>",
        _table(BUDGET_HEADERS, _budget_rows(budget_outcomes), [1, 2, 3]),
        "</section>",
    ])  # fmt: skip
    return summary, card


def render_report(
    cost_history: pl.DataFrame | Iterable[Any],
    slo_history: pl.DataFrame | Iterable[Any],
    quality_results: Mapping[str, Sequence[Any]] | Sequence[Any] | None = None,
    budgets: BudgetConfig | None = None,
    *,
    title: str = "Maestro Conductor: data quality, cost and SLOs",
    now: datetime | None = None,
    last_n: int = 30,
    recent_runs: int = 5,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    now = now or datetime.now(UTC)
    budgets = budgets or load_budgets()
    cost, slo = cost_frame(cost_history), slo_frame(slo_history)
    quality = _normalise_quality(quality_results)
    datasets = sorted(set(cost["dataset"].to_list()) | set(slo["dataset"].to_list()) | set(quality))
    budget_outcomes = evaluate_budgets(cost, budgets, now=now, datasets=datasets)
    plots = all_plots(cost, slo, budgets=budgets, last_n=last_n)

    summary_rows, cards = [], []
    for ds in datasets:
        latest = slo.filter(pl.col("dataset") == ds).sort("evaluated_at").tail(1).to_dicts()
        row, card = _dataset_card(
            ds,
            cost.filter(pl.col("dataset") == ds),
            outcomes_of(latest[0]) if latest else [],
            quality.get(ds, []),
            [o for o in budget_outcomes if o.scope == ds],
            recent_runs,
        )
        summary_rows.append(row)
        cards.append(card)
    overall = [o for o in budget_outcomes if o.scope == OVERALL]
    figures = "".join(f'<img alt="{_e(p.title)}" src="{p.data_uri}">' for p in plots.values())
    generated = f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<style>{CSS}</style></head><body><main><h1>{_e(title)}</h1>",
        f'<div class="sub">Generated {generated} · {_plural(len(datasets), "dataset")} · ',
        f"{_plural(cost.height, 'run')} recorded</div>",
        '<section class="card"><h2>Summary</h2>', _table(SUMMARY_HEADERS, summary_rows, [4, 5, 6]),
        "<h3>Overall budgets (month to date)</h3>",
        _table(BUDGET_HEADERS, _budget_rows(overall), [1, 2, 3]), "</section>",
        f'<section class="card"><h2>Trends, last {last_n} runs</h2>',
        f'<div class="plots">{figures}</div></section>',
        *cards,
        f"<footer>{_e(FOOTER)}</footer></main></body></html>",
    ])  # fmt: skip


def write_report(
    path: str | os.PathLike[str],
    cost_history: pl.DataFrame | Iterable[Any],
    slo_history: pl.DataFrame | Iterable[Any],
    quality_results: Mapping[str, Sequence[Any]] | Sequence[Any] | None = None,
    budgets: BudgetConfig | None = None,
    **options: Any,
) -> Path:
    """Write the report to ``path`` (parents created, written atomically) and return the path.

    Args:
        cost_history: ``metrics/cost`` rows (DataFrame or :class:`~metrics.cost.CostRecord` list).
        slo_history: ``metrics/slo`` rows (DataFrame or :class:`~metrics.slo.SloRecord` list).
        quality_results: contract check outcomes, ``{dataset: [CheckOutcome | dict, ...]}`` or a
            list of dicts with a ``dataset`` key and ``name``, ``severity``, ``passed``,
            ``description``.
        budgets: the budget configuration (default: ``metrics/budgets.yaml``).
        options: ``title``, ``now``, ``last_n`` (points per plot), ``recent_runs`` (table rows).
    """
    text = render_report(cost_history, slo_history, quality_results, budgets, **options)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
