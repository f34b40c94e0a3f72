"""What a user sees and does in the Dagster UI, in headless Chromium against the real webserver.

Each test leaves a screenshot in its tmp_path (``*.png``), to look at when something is off.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from contracts.loader import load_contracts
from pipeline.checks import check_specs

pytestmark = [pytest.mark.slow, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
EXPECTED = json.loads((REPO / "data" / "samples" / "expected.json").read_text())
ASSETS = [
    "bronze/customers", "bronze/orders", "quarantine/customers", "quarantine/orders",
    "seeds/fx_rates", "staging/stg_bronze__customers", "staging/stg_bronze__orders",
    "marts/customer_revenue", "marts/daily_revenue", "catalog/duckdb",
]


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _metadata_value(page: Any, label: str) -> Any:
    """The value cell of ``label``'s row in an asset page's metadata table."""
    row = page.locator("tr").filter(has=page.get_by_text(label, exact=True))
    return row.locator("td").nth(2)


def _new_run(server: Any, before: set[str], *, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [r["runId"] for r in server.runs() if r["runId"] not in before]
        if new:
            assert len(new) == 1, f"one click, one run: {new}"
            return new[0]
        time.sleep(0.5)
    raise AssertionError(f"no run was launched within {timeout:.0f} s of the click")


def test_materialize_on_the_customers_page_runs_the_ingest_and_the_ui_shows_its_metadata(
    page: Any, dagster_dev: Any, tmp_path: Path
) -> None:
    page.goto(f"{dagster_dev.url}/assets/bronze/customers")
    before = {r["runId"] for r in dagster_dev.runs()}
    page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$")).click()
    # bronze and quarantine are one ingest (a multi-asset): the UI says both will be materialized.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("quarantine / customers")
    _shot(page, tmp_path, "customers-materialize-dialog")
    dialog.get_by_role("button", name="Confirm").click()

    run_id = _new_run(dagster_dev, before)
    run = dagster_dev.wait_for_run(run_id)
    assert run["status"] == "SUCCESS", dagster_dev.run_errors(run_id)
    mat = dagster_dev.latest_materialization(["bronze", "customers"])
    assert mat is not None and mat["runId"] == run_id
    assert mat["metadata"]["table_rows"] == EXPECTED["files"]["customers.csv"]["valid"]

    # The run's page: succeeded, with the materialization and its metadata in the event log.
    page.goto(f"{dagster_dev.url}/runs/{run_id}")
    expect(page.get_by_text("Materialized value bronze customers.")).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    _shot(page, tmp_path, "customers-run")

    # The asset's page: the latest materialization's metadata, as the run reported it.
    page.goto(f"{dagster_dev.url}/assets/bronze/customers")
    expect(_metadata_value(page, "table_rows")).to_have_text(str(mat["metadata"]["table_rows"]))
    expect(_metadata_value(page, "rows_committed")).to_have_text(str(mat["metadata"]["rows_committed"]))
    expect(_metadata_value(page, "rows_quarantined")).to_have_text(str(mat["metadata"]["rows_quarantined"]))
    page.get_by_text("rows_committed", exact=True).scroll_into_view_if_needed()
    _shot(page, tmp_path, "customers-asset-metadata")


def test_the_asset_catalog_lists_every_layer_by_name(
    page: Any, dagster_dev: Any, lake_built: str, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1600, "height": 2200})  # every row rendered (the list is virtual)
    page.goto(f"{dagster_dev.url}/assets")
    expect(page.locator('a[href="/assets/bronze/orders"]').first).to_be_visible()
    expect(page.get_by_text("Loading...", exact=True)).to_have_count(0)  # statuses filled in
    for key in ASSETS:
        link = page.locator(f'a[href="/assets/{key}"]').first
        expect(link).to_be_visible()
        expect(link).to_contain_text(key.replace("/", " / "))
        row = link.locator("xpath=ancestor::div[contains(., 'orchestration.definitions')][1]")
        expect(row).to_contain_text("Materialized")
    _shot(page, tmp_path, "asset-catalog")


def test_the_bronze_orders_page_shows_its_contract_checks_and_the_latest_ingest(
    page: Any, dagster_dev: Any, lake_built: str, tmp_path: Path
) -> None:
    contract = load_contracts(REPO / "contracts" / "datasets")["orders"]
    mat = dagster_dev.latest_materialization(["bronze", "orders"])
    assert mat is not None

    page.goto(f"{dagster_dev.url}/assets/bronze/orders")
    expect(page.get_by_text(contract.description.strip(), exact=False).first).to_be_visible()
    for label in ("rows_read", "rows_committed", "rows_quarantined", "duplicates_dropped", "table_rows"):
        expect(_metadata_value(page, label)).to_have_text(str(mat["metadata"][label]))
    expect(_metadata_value(page, "contract")).to_have_text(f"orders v{contract.version}")
    _shot(page, tmp_path, "bronze-orders-overview")
    page.get_by_text("rows_committed", exact=True).scroll_into_view_if_needed()
    _shot(page, tmp_path, "bronze-orders-metadata")

    # Checks tab: every check the contract implies, each with its latest result.
    checks_tab = page.get_by_role("tab", name="Checks", exact=True)
    checks_tab.click()
    expect(checks_tab).to_have_attribute("aria-selected", "true")
    for spec in check_specs(contract):
        name = page.get_by_title(spec.name, exact=True).first
        expect(name).to_be_visible()
        expect(name.locator("xpath=..")).to_contain_text("Succeeded")
    page.get_by_title("row_accounting", exact=True).first.click()
    expect(page.get_by_text("Every input row is in exactly one place").first).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    _shot(page, tmp_path, "bronze-orders-checks")
