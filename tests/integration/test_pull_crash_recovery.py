"""HTTP pull crashes: a real pipeline process SIGKILLed at a fault point, the API changing before
the re-run, and every version of every record in bronze exactly once afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.sources import load_sources
from connectors.http_pull import Cursor, CursorStore
from connectors.http_pull.sample_api import create_app, sample_products, touch_product
from contracts.loader import load_contracts
from faults import FaultInjected
from lake.delta import table_facts
from pipeline.kinds.pull_state import committed_cursor
from pipeline.run import ingest_dataset, lake_for
from sandbox.servers import serve_app

from .pull_api import TOKEN, api_versions, bronze_versions, pull_entry

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[2]
RUN = (
    "from config.settings import Settings; from config.sources import load_sources; "
    "from contracts.loader import load_contracts; from pipeline.run import ingest_dataset; "
    "s = Settings.from_env(); "
    "r = ingest_dataset(s, load_contracts()['products'], load_sources(s), publish=False); "
    "print(len(r.results), r.input_errors)"
)


def _run_killed_at(point: str, log: Path) -> subprocess.CompletedProcess[str]:
    """The real pipeline in its own process, SIGKILLed when it reaches ``point``."""
    env = {**os.environ, "MAESTRO_FAULTS": f"{point}=kill", "MAESTRO_FAULTS_LOG": str(log)}
    return subprocess.run(
        [sys.executable, "-c", RUN], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _spool_dir(settings) -> Path:  # noqa: ANN001
    return Path(settings.state_dir) / "http_pull" / "spool" / "catalogue_api"


def _assert_every_version_once(app, settings) -> None:  # noqa: ANN001
    bronze = bronze_versions(lake_for(settings).table_uri("bronze", "products"))
    expected = api_versions(app)
    assert sorted(expected - bronze) == [] and sorted(bronze - expected) == []
    assert max(bronze.values()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    ["pipeline.pull.after_commit", "pipeline.pull.after_fetch", "pipeline.pull.after_cursor_cache"],
)
def test_a_pull_killed_around_its_commit_then_rerun_after_the_api_changed_has_every_version_once(
    make_settings, tmp_path: Path, point: str  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN, products=sample_products(500), max_page_size=100)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url, pagination={"type": "keyset", "page_size": 100})],
                                 SAMPLE_API_TOKEN=TOKEN)
        log = tmp_path / "faults.jsonl"
        killed = _run_killed_at(point, log)
        assert killed.returncode == -9, killed.stderr[-2000:]
        [landed] = [json.loads(line) for line in log.read_text().splitlines()]
        assert (landed["point"], landed["action"]) == (point, "kill")

        committed = point != "pipeline.pull.after_fetch"
        rows = table_facts(lake_for(settings).table_uri("bronze", "products"))["rows"]
        assert rows == (500 if committed else 0)
        for product_id in range(1, 501, 20):  # the API changes before the re-run: 25 new versions
            touch_product(app, product_id)

        again = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
        assert again.input_errors == []
        new = sum(r.counts.valid for r in again.results if r.status == "committed")
        assert new == (25 if committed else 525)  # the killed pull's records (once), then the changes

    _assert_every_version_once(app, settings)
    assert len(app.state.history) == 525
    assert sorted(p.name for p in _spool_dir(settings).iterdir()) == [".lock"]  # nothing leaked
    newest = max(app.state.products, key=lambda p: (p["updated_at"], p["id"]))
    lake = lake_for(settings)
    assert committed_cursor(lake, "products", "catalogue_api").cursor == Cursor(
        newest["updated_at"], str(newest["id"])
    )


def test_a_crash_between_the_bronze_and_the_quarantine_commit_is_finished_from_the_spool(
    make_settings, monkeypatch  # noqa: ANN001
) -> None:
    products = sample_products(60)
    for p in products[::10]:
        p["price"] = -1  # six rows that break the contract (min: 0)
    app = create_app(token=TOKEN, products=products)
    real = __import__("pipeline.ingest", fromlist=["append_idempotent"]).append_idempotent

    def bronze_only(table_uri, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if "/quarantine/" in table_uri:
            raise FaultInjected("disk gone before the quarantine commit")
        return real(table_uri, *args, **kwargs)

    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        monkeypatch.setattr("pipeline.ingest.append_idempotent", bronze_only)
        with pytest.raises(FaultInjected):
            ingest_dataset(settings, contract, load_sources(settings))
        monkeypatch.setattr("pipeline.ingest.append_idempotent", real)
        for product_id in (5, 15):
            touch_product(app, product_id)  # the API changes before the re-run

        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.input_errors == []
    lake = lake_for(settings)
    quarantined = DeltaTable(lake.table_uri("quarantine", "products")).to_pyarrow_table().num_rows
    assert quarantined == 6  # the first pull's rejected rows, once
    bronze = bronze_versions(lake.table_uri("bronze", "products"))
    assert sum(bronze.values()) == 54 + 2 and max(bronze.values()) == 1


def test_leftovers_of_killed_pulls_are_removed_and_a_stale_spool_is_never_ingested(
    make_settings,  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))  # all 50, cursor at product 50
        spool = _spool_dir(settings)
        (spool / "catalogue_api-x.ndjson.part").write_text('{"id": 999}\n')  # a pull killed mid-way
        (spool / "catalogue_api-y.ndjson").write_text('{"id": 998}\n')  # killed before its description
        stale = spool / "catalogue_api-z.ndjson"  # a finished pull from before the last commit
        stale.write_text('{"id": 997, "sku": "SKU-0997"}\n')
        description = {
            "source": "catalogue_api", "uri": f"{url}/products", "since": None,
            "new_cursor": {"value": "2024-01-01T00:00:00Z", "id": "997"}, "spool": stale.name,
            "sha256": "0" * 64, "size": 1, "records": 1, "columns": ["id", "sku"], "pages": 1,
            "requests": 1, "retries": 0, "fetched_at": "2024-01-01T00:00:00+00:00",
        }
        (spool / f"{stale.name}.pull.json").write_text(json.dumps(description))
        touch_product(app, 3)
        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.input_errors == [] and again.total("valid") == 1
    assert sorted(p.name for p in spool.iterdir()) == [".lock"]
    _assert_every_version_once(app, settings)


def test_the_cache_is_only_a_cache_the_lake_wins(make_settings) -> None:  # noqa: ANN001
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        cache = CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")
        cache.set("catalogue_api", Cursor("2099-01-01T00:00:00Z", "1"))  # a cache far ahead
        touch_product(app, 9)
        again = ingest_dataset(settings, contract, load_sources(settings))
        assert again.total("valid") == 1  # pulled from the lake's cursor, not the cache's
        cache.delete("catalogue_api")
        assert ingest_dataset(settings, contract, load_sources(settings)).results == []
    _assert_every_version_once(app, settings)
