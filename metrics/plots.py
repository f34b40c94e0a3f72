"""Trend plots of the metrics history as PNG images, for reports and Dagster metadata.

Each function takes the history DataFrames (``metrics/cost`` / ``metrics/slo`` rows, or lists of
records), keeps each dataset's last ``last_n`` points and returns a :class:`Plot`: the PNG bytes,
a ``data:`` URI and a Markdown image (``Plot.markdown``) that Dagster's ``MetadataValue.md``
renders inline. Figures are drawn with matplotlib's Agg canvas on ``Figure`` objects (no pyplot
global state), so plotting works headless and from several threads.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from metrics.budgets import BudgetConfig
from metrics.tables import cost_frame, slo_frame

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]


@dataclass(frozen=True)
class Plot:
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def markdown(self) -> str:
        """``![title](data:image/png;base64,...)`` for ``MetadataValue.md``."""
        return f"![{self.title}]({self.data_uri})"


def _figure(title: str, ylabel: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#e5e7eb", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _render(fig: Figure, ax: Any, title: str, *, empty: bool) -> Plot:
    if empty:
        ax.text(
            0.5,
            0.5,
            "no data yet",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#6b7280",
        )
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        locator = AutoDateLocator()  # dates on the x axis only when there are some
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if not empty and ax.get_legend_handles_labels()[0]:
        # Below the axes, so the legend never hides a line.
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return Plot(title, buf.getvalue())


def _last(frame: pl.DataFrame, time_col: str, last_n: int) -> pl.DataFrame:
    return frame.sort(time_col).group_by("dataset", maintain_order=True).tail(last_n).sort(time_col)


def _series(
    frame: pl.DataFrame, time_col: str, value: pl.Expr
) -> Iterable[tuple[int, str, list[Any], list[Any]]]:
    rows = frame.with_columns(value.alias("__v")).filter(
        pl.col("__v").is_not_null() & pl.col("__v").is_finite()
    )
    for i, ds in enumerate(sorted(set(frame["dataset"].to_list()))):
        part = rows.filter(pl.col("dataset") == ds)
        yield i, ds, part[time_col].to_list(), part["__v"].to_list()


def cost_plot(
    cost_history: pl.DataFrame | Iterable[Any],
    *,
    budgets: BudgetConfig | None = None,
    last_n: int = 30,
) -> Plot:
    """Cost per 1,000 events per run and dataset (log scale), with each dataset's budget line."""
    title = "Cost per 1,000 events (USD)"
    frame = _last(cost_frame(cost_history), "started_at", last_n)
    fig, ax = _figure(title, "USD per 1,000 events")
    plotted = False
    for i, ds, xs, ys in _series(frame, "started_at", pl.col("cost_per_1000_events")):
        color = COLORS[i % len(COLORS)]
        if ys:
            ax.plot(xs, ys, marker="o", markersize=3, color=color, label=ds)
            plotted = True
    # One dashed budget line per distinct limit (datasets sharing the default share one line).
    limits: dict[tuple[float, float], list[str]] = {}
    for ds in sorted(set(frame["dataset"].to_list())):
        budget = budgets.budget(ds, "usd_per_1000_events") if budgets else None
        if budget is not None:
            limits.setdefault((budget.limit_usd, budget.warn_at), []).append(ds)
    for (limit, warn_at), names in limits.items():
        who = "" if len(limits) == 1 else f" ({', '.join(names)})"
        ax.axhline(limit, color="#dc2626", linestyle="--", linewidth=1, label=f"budget ${limit:g}{who}")
        ax.axhline(
            limit * warn_at,
            color="#d97706",
            linestyle=":",
            linewidth=1,
            label=f"warn at {warn_at:.0%}{who}",
        )
    if plotted:
        ax.set_yscale("log")
    return _render(fig, ax, title, empty=not plotted)


def freshness_plot(slo_history: pl.DataFrame | Iterable[Any], *, last_n: int = 30) -> Plot:
    """Freshness lag (hours) per evaluation and dataset, with the contract's SLO (dashed)."""
    title = "Freshness lag vs SLO (hours)"
    frame = _last(slo_frame(slo_history), "evaluated_at", last_n)
    fig, ax = _figure(title, "hours")
    plotted = False
    for i, ds, xs, ys in _series(frame, "evaluated_at", pl.col("freshness_lag_s") / 3600):
        color = COLORS[i % len(COLORS)]
        if ys:
            ax.plot(xs, ys, marker="o", markersize=3, color=color, label=f"{ds} lag")
            plotted = True
        slo = frame.filter(pl.col("dataset") == ds)["freshness_slo_s"].drop_nulls()
        if len(slo):
            ax.axhline(
                slo[-1] / 3600,
                color=color,
                linestyle="--",
                linewidth=1,
                label=f"{ds} SLO {slo[-1] / 3600:g} h",
            )
    if plotted:
        ax.set_ylim(bottom=0)
    return _render(fig, ax, title, empty=not plotted)


def pass_rate_plot(
    cost_history: pl.DataFrame | Iterable[Any],
    *,
    targets: Mapping[str, float] | None = None,
    last_n: int = 30,
) -> Plot:
    """Contract pass rate (1 - quarantined / read) per run, with ``completeness_min`` targets."""
    title = "Contract pass rate per run (%)"
    frame = _last(cost_frame(cost_history), "started_at", last_n)
    fig, ax = _figure(title, "% of rows read")
    rate = pl.when(pl.col("events_ingested") > 0).then(
        100 * (1 - pl.col("rows_quarantined") / pl.col("events_ingested"))
    )
    plotted = False
    for i, ds, xs, ys in _series(frame, "started_at", rate):
        color = COLORS[i % len(COLORS)]
        if ys:
            ax.plot(xs, ys, marker="o", markersize=3, color=color, label=ds)
            plotted = True
        if targets and ds in targets:
            ax.axhline(
                100 * targets[ds],
                color=color,
                linestyle="--",
                linewidth=1,
                label=f"{ds} target {100 * targets[ds]:g}%",
            )
    if plotted:
        ax.set_ylim(top=100.5)  # a rate cannot pass 100%: keep the headroom small
    return _render(fig, ax, title, empty=not plotted)


def throughput_plot(cost_history: pl.DataFrame | Iterable[Any], *, last_n: int = 30) -> Plot:
    """Ingest throughput (rows read per wall second) per run and dataset."""
    title = "Ingest throughput (rows/s)"
    frame = _last(cost_frame(cost_history), "started_at", last_n)
    fig, ax = _figure(title, "rows per second")
    tput = pl.when((pl.col("events_ingested") > 0) & (pl.col("wall_s") > 0)).then(
        pl.col("events_ingested") / pl.col("wall_s")
    )
    plotted = False
    for i, ds, xs, ys in _series(frame, "started_at", tput):
        if ys:
            ax.plot(xs, ys, marker="o", markersize=3, color=COLORS[i % len(COLORS)], label=ds)
            plotted = True
    if plotted:
        ax.set_ylim(bottom=0)
    return _render(fig, ax, title, empty=not plotted)


def all_plots(
    cost_history: pl.DataFrame | Iterable[Any],
    slo_history: pl.DataFrame | Iterable[Any],
    *,
    budgets: BudgetConfig | None = None,
    last_n: int = 30,
) -> dict[str, Plot]:
    """The four trend plots, keyed ``cost``, ``freshness``, ``pass_rate``, ``throughput``."""
    slo = slo_frame(slo_history)
    targets = {}
    for row in slo.sort("evaluated_at").iter_rows(named=True):
        if row["pass_target"] is not None:
            targets[row["dataset"]] = row["pass_target"]
    return {
        "cost": cost_plot(cost_history, budgets=budgets, last_n=last_n),
        "freshness": freshness_plot(slo, last_n=last_n),
        "pass_rate": pass_rate_plot(cost_history, targets=targets, last_n=last_n),
        "throughput": throughput_plot(cost_history, last_n=last_n),
    }
