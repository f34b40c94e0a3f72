"""HTTP pull into the lake against a real HTTP API on loopback: misbehaving servers, records
updated while the pull pages through them, and a cursor recorded in the lake with the rows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from config.sources import load_sources
from connectors.http_pull import Cursor, CursorStore
from connectors.http_pull.sample_api import create_app, sample_products
from contracts.loader import load_contracts
from lake.delta import table_facts
from lake.exceptions import LakeWriteError
from pipeline.kinds.pull_state import committed_cursor
from pipeline.run import ingest_dataset, lake_for
from sandbox.servers import serve_app

from .pull_api import TOKEN, ChangingApi, api_versions, bronze_versions, pull_entry

pytestmark = pytest.mark.network


class Flaky:
    """ASGI wrapper: answers 500, then 429 (Retry-After: 0), then hangs past the client timeout,
    then passes requests through — every fourth request misbehaves in turn."""

    def __init__(self, app, *, always_fail: bool = False) -> None:  # noqa: ANN001
        self.app, self.always_fail, self.calls = app, always_fail, 0

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope["path"] != "/products":
            return await self.app(scope, receive, send)
        self.calls += 1
        mode = "500" if self.always_fail else {1: "500", 2: "429", 3: "hang"}.get(self.calls % 4, "ok")
        if mode == "hang":
            await asyncio.sleep(2.0)
            mode = "ok"  # the client has given up on this request by now
        if mode in ("500", "429"):
            headers = [(b"content-type", b"application/json")]
            if mode == "429":
                headers.append((b"retry-after", b"0"))
            await send({"type": "http.response.start", "status": int(mode), "headers": headers})
            await send({"type": "http.response.body", "body": b'{"error": "try again"}'})
            return None
        return await self.app(scope, receive, send)


def _settings(make_settings, url: str, **extra):  # noqa: ANN001, ANN202
    return make_settings([pull_entry(url, **{"timeout_s": 0.5, **extra})], SAMPLE_API_TOKEN=TOKEN)


def _cache(settings) -> CursorStore:  # noqa: ANN001
    return CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")


def test_every_record_arrives_once_through_errors_and_the_cursor_moves_after_commit(make_settings) -> None:  # noqa: ANN001
    flaky = Flaky(create_app(token=TOKEN))
    with serve_app(flaky) as url:
        settings = _settings(make_settings, url)
        contract = load_contracts()["products"]
        lake = lake_for(settings)

        report = ingest_dataset(settings, contract, load_sources(settings))
        assert report.input_errors == []
        assert report.total("read") == 50 and report.total("valid") == 50
        assert flaky.calls > 8  # it really went through the 500s, 429s and time-outs
        bronze = lake.table_uri("bronze", "products")
        assert table_facts(bronze)["rows"] == 50
        newest = Cursor("2024-01-15T07:00:00Z", "50")  # the position of product 50
        assert committed_cursor(lake, "products", "catalogue_api").cursor == newest
        assert _cache(settings).get("catalogue_api") == newest

        # Nothing newer: nothing fetched, nothing committed.
        again = ingest_dataset(settings, contract, load_sources(settings))
        assert again.results == [] and table_facts(bronze)["rows"] == 50

        # One product changes upstream: exactly that one version arrives.
        r = httpx.post(f"{url}/products/7/touch", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert r.status_code == 200
        changed = ingest_dataset(settings, contract, load_sources(settings))
        assert changed.total("valid") == 1 and table_facts(bronze)["rows"] == 51


def test_the_cursor_does_not_move_when_the_commit_fails(make_settings, monkeypatch) -> None:  # noqa: ANN001
    with serve_app(create_app(token=TOKEN)) as url:
        settings = _settings(make_settings, url)

        def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise LakeWriteError("could not commit to Delta table: disk full")

        monkeypatch.setattr("pipeline.ingest.ingest_object", broken)
        with pytest.raises(LakeWriteError):
            ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
        assert committed_cursor(lake_for(settings), "products", "catalogue_api").cursor is None
        assert _cache(settings).get("catalogue_api") is None


def test_a_source_that_keeps_failing_ends_with_a_clear_error_and_nothing_committed(make_settings) -> None:  # noqa: ANN001
    with serve_app(Flaky(create_app(token=TOKEN), always_fail=True)) as url:
        settings = _settings(make_settings, url, max_retries=2)
        report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    [err] = report.input_errors
    assert err["retryable"] and err["source"] == "catalogue_api"
    assert "/products" in err["error"] and "500" in err["error"] and TOKEN not in err["error"]
    assert table_facts(lake_for(settings).table_uri("bronze", "products"))["rows"] == 0


RE_READ = {"type": "page_number", "page_size": 20, "reread_until_stable": True, "max_passes": 8}
OFFSET_RE_READ = {"type": "offset", "limit": 20, "reread_until_stable": True, "max_passes": 8}
PLAIN_INCREMENTAL = {"cursor_field": "updated_at", "param": "updated_since"}


@pytest.mark.parametrize(
    ("pagination", "incremental"),
    [
        (None, None),  # the shipped configuration: keyset on (updated_at, id)
        (RE_READ, PLAIN_INCREMENTAL),
        (OFFSET_RE_READ, PLAIN_INCREMENTAL),
    ],
    ids=["keyset", "page_number_reread", "offset_reread"],
)
def test_records_updated_while_the_pull_pages_are_all_in_bronze_once_in_every_version(
    make_settings, pagination, incremental  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN, products=sample_products(500), max_page_size=20)
    api = ChangingApi(app, per_page=1, pages=15)  # one product already read changes after each page
    extra = {"pagination": pagination, "incremental": incremental} if pagination else {}
    with serve_app(api) as url:
        settings = _settings(make_settings, url, timeout_s=5, **extra)
        contract = load_contracts()["products"]
        first = ingest_dataset(settings, contract, load_sources(settings))
        assert first.input_errors == []
        assert api.touched == 15 and len(app.state.history) == 515  # it really changed meanwhile
        api.enabled = False
        ingest_dataset(settings, contract, load_sources(settings))  # whatever is left

    bronze = bronze_versions(lake_for(settings).table_uri("bronze", "products"))
    expected = api_versions(app)
    assert sorted(expected - bronze) == []  # nothing lost
    assert sorted(bronze - expected) == []  # nothing invented
    assert max(bronze.values()) == 1  # nothing twice


def test_an_incremental_page_number_source_is_refused_with_the_way_out(make_settings) -> None:  # noqa: ANN001
    settings = _settings(
        make_settings,
        "http://127.0.0.1:9",
        pagination={"type": "page_number", "page_size": 20},
        incremental=PLAIN_INCREMENTAL,
    )
    report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    [err] = report.input_errors
    assert "pagination.type: page_number with incremental loses records" in err["error"]
    assert "type: keyset" in err["error"] and "reread_until_stable" in err["error"]
    assert table_facts(lake_for(settings).table_uri("bronze", "products"))["rows"] == 0


def test_a_pull_with_nothing_new_commits_nothing_and_leaves_no_spool(make_settings) -> None:  # noqa: ANN001
    with serve_app(create_app(token=TOKEN)) as url:
        settings = _settings(make_settings, url)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        bronze = lake_for(settings).table_uri("bronze", "products")
        version = table_facts(bronze)["version"]
        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.results == [] and again.input_errors == []
    assert table_facts(bronze)["version"] == version
    spool = Path(settings.state_dir) / "http_pull" / "spool" / "catalogue_api"
    assert sorted(p.name for p in spool.iterdir()) == [".lock"]


def test_plain_page_numbers_would_lose_a_record_per_update_which_is_why_they_are_refused(
    make_settings, monkeypatch  # noqa: ANN001
) -> None:
    from connectors.http_pull.config import HttpPullConfig

    monkeypatch.setattr(HttpPullConfig, "_pagination_problems", lambda self: [])  # the old behaviour
    app = create_app(token=TOKEN, products=sample_products(500), max_page_size=20)
    api = ChangingApi(app, per_page=1, pages=15)
    plain = {"type": "page_number", "page_size": 20}
    with serve_app(api) as url:
        settings = _settings(make_settings, url, pagination=plain, incremental=PLAIN_INCREMENTAL)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        api.enabled = False
        ingest_dataset(settings, contract, load_sources(settings))
    lost = api_versions(app) - bronze_versions(lake_for(settings).table_uri("bronze", "products"))
    assert 0 < len(lost) <= 15  # skipped at a page boundary, and the cursor moved past them


def test_a_pull_that_does_not_fit_the_contract_is_kept_with_its_error_and_the_cursor_stays(
    make_settings,  # noqa: ANN001
) -> None:
    products = sample_products(10)
    for p in products:
        p["colour"] = "red"  # a column the contract does not have (extra_columns: reject)
    app = create_app(token=TOKEN, products=products)
    with serve_app(app) as url:
        settings = _settings(make_settings, url)
        report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    [err] = report.input_errors
    assert err["source"] == "catalogue_api" and "colour" in err["error"] and not err["retryable"]
    lake = lake_for(settings)
    assert table_facts(lake.table_uri("bronze", "products"))["rows"] == 0
    assert committed_cursor(lake, "products", "catalogue_api").cursor is None  # read again next time
    rejected = Path(settings.state_dir) / "http_pull" / "spool" / "catalogue_api" / "_rejected"
    [kept] = rejected.glob("*.ndjson")
    assert len(kept.read_text().splitlines()) == 10  # the original, as pulled
    record = json.loads(kept.with_name(kept.name.removesuffix(".ndjson") + ".error.json").read_text())
    assert "colour" in record["error"] and record["pull"]["records"] == 10
