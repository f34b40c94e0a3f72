"""The HTML report is one self-contained file with plots, per-dataset tables and status badges."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path

from contracts.loader import load_contracts
from metrics.budgets import load_budgets
from metrics.plots import PNG_MAGIC
from metrics.report import write_report
from metrics.slo import slo_record
from pipeline.checks import CheckOutcome
from tests.metrics.metrics_helpers import NOW, hourly_runs

CONTRACTS = load_contracts()


def test_the_report_embeds_every_plot_and_a_section_per_dataset(tmp_path: Path) -> None:
    cost = hourly_runs(NOW, 12, total_usd=0.09) + hourly_runs(
        NOW, 12, dataset="customers", last_ingested_at=NOW - timedelta(days=2)
    )
    slo = [slo_record(cost, CONTRACTS[ds], NOW, run_id="eval") for ds in ("orders", "customers")]
    quality = {
        "orders": [
            CheckOutcome("schema_matches_contract", "error", True, "columns match"),
            CheckOutcome("quarantine_rate", "warn", False, "at most 5% <quarantined>"),
        ]
    }
    path = write_report(tmp_path / "out" / "report.html", cost, slo, quality, load_budgets(), now=NOW)

    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "<style>" in text
    images = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(PNG_MAGIC) for i in images)
    assert not re.search(r'(src|href)="https?:', text)  # self-contained: nothing fetched
    for ds in ("orders", "customers"):
        assert f"<h2>{ds}</h2>" in text
    # orders spends $0.09 per 1,000 events: 90% of its budget.
    assert "orders: spent $0.0900 of $0.1000 budget (90%) for cost per 1,000 events" in text
    assert '<span class="badge warn">warn</span>' in text
    # customers were last ingested two days ago against a 26h SLO.
    assert "customers: freshness lag 2d breaches the SLO of 1d 2h" in text
    assert '<span class="badge fail">fail</span>' in text
    assert "schema_matches_contract" in text and "&lt;quarantined&gt;" in text  # escaped


def test_a_report_with_no_history_yet_is_still_a_page(tmp_path: Path) -> None:
    path = write_report(tmp_path / "report.html", [], [])
    text = path.read_text()
    assert "0 datasets" in text and text.count("data:image/png;base64,") == 4
