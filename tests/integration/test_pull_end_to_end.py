"""HTTP pull into the lake against a real, misbehaving HTTP server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from config.sources import load_sources
from connectors.http_pull import CursorStore
from connectors.http_pull.sample_api import create_app
from contracts.loader import load_contracts
from lake.delta import table_facts
from lake.exceptions import LakeWriteError
from pipeline.run import ingest_dataset, lake_for
from sandbox.servers import serve_app

pytestmark = pytest.mark.network
TOKEN = "pull-test-token"


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
    entry = {
        "name": "catalogue_api",
        "kind": "http_pull",
        "dataset": "products",
        "url": f"{url}/products",
        "auth": {"token_env": "SAMPLE_API_TOKEN"},
        "format": "json",
        "record_path": "data.items",
        "pagination": {
            "type": "page_number",
            "page_param": "page",
            "start": 1,
            "size_param": "page_size",
            "page_size": 7,
        },
        "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
        "timeout_s": 0.5,
        "max_retries": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **extra,
    }
    return make_settings([entry], SAMPLE_API_TOKEN=TOKEN)


def test_every_record_arrives_once_through_errors_and_the_cursor_moves_after_commit(make_settings) -> None:  # noqa: ANN001
    flaky = Flaky(create_app(token=TOKEN))
    with serve_app(flaky) as url:
        settings = _settings(make_settings, url)
        contract = load_contracts()["products"]
        cursors = CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")

        report = ingest_dataset(settings, contract, load_sources(settings))
        assert report.input_errors == []
        assert report.total("read") == 50 and report.total("valid") == 50
        assert flaky.calls > 8  # it really went through the 500s, 429s and time-outs
        bronze = lake_for(settings).table_uri("bronze", "products")
        assert table_facts(bronze)["rows"] == 50
        assert cursors.get("catalogue_api") == "2024-01-15T07:00:00Z"  # the newest updated_at (product 50)

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
        cursors = CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")

        def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise LakeWriteError("could not commit to Delta table: disk full")

        monkeypatch.setattr("pipeline.ingest.ingest_object", broken)
        with pytest.raises(LakeWriteError):
            ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
        assert cursors.get("catalogue_api") is None


def test_a_source_that_keeps_failing_ends_with_a_clear_error_and_nothing_committed(make_settings) -> None:  # noqa: ANN001
    with serve_app(Flaky(create_app(token=TOKEN), always_fail=True)) as url:
        settings = _settings(make_settings, url, max_retries=2)
        report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    [err] = report.input_errors
    assert err["retryable"] and err["source"] == "catalogue_api"
    assert "/products" in err["error"] and "500" in err["error"] and TOKEN not in err["error"]
    assert table_facts(lake_for(settings).table_uri("bronze", "products"))["rows"] == 0
