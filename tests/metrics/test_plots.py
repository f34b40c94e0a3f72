"""Trend plots are valid PNG images, also as data URIs and Markdown for Dagster metadata."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import matplotlib.image as mpimg
import pytest

from contracts.loader import load_contracts
from metrics.budgets import load_budgets
from metrics.plots import PNG_MAGIC, all_plots, cost_plot
from metrics.slo import slo_record
from tests.metrics.metrics_helpers import NOW, hourly_runs

CONTRACTS = load_contracts()


@pytest.fixture(scope="module")
def histories() -> tuple[list[dict], list]:  # type: ignore[type-arg]
    cost = hourly_runs(NOW, 12) + hourly_runs(NOW, 12, dataset="customers", events=300)
    slo = [
        slo_record(cost, CONTRACTS[ds], NOW - timedelta(hours=h), run_id=f"e{h}")
        for ds in ("orders", "customers")
        for h in range(6)
    ]
    return cost, slo


def _image(png: bytes):  # type: ignore[no-untyped-def]
    return mpimg.imread(io.BytesIO(png), format="png")


def test_every_plot_is_a_decodable_png_with_pixels(histories) -> None:  # type: ignore[no-untyped-def]
    cost, slo = histories
    plots = all_plots(cost, slo, budgets=load_budgets(), last_n=10)
    assert set(plots) == {"cost", "freshness", "pass_rate", "throughput"}
    for plot in plots.values():
        assert plot.png.startswith(PNG_MAGIC)
        img = _image(plot.png)
        assert img.shape[0] > 200 and img.shape[1] > 400
        assert img.std() > 0.01  # not a blank canvas


def test_plots_come_as_data_uris_and_markdown_images(histories) -> None:  # type: ignore[no-untyped-def]
    plot = cost_plot(histories[0], budgets=load_budgets())
    assert plot.data_uri.startswith("data:image/png;base64,")
    assert base64.b64decode(plot.data_uri.split(",", 1)[1]) == plot.png
    assert plot.markdown == f"![{plot.title}]({plot.data_uri})"


def test_an_empty_history_still_gives_a_valid_image() -> None:
    plot = cost_plot([])
    assert plot.png.startswith(PNG_MAGIC) and _image(plot.png).size
