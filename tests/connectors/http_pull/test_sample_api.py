"""The sample products API: bearer auth, pagination, updated_since, and a full incremental pull
by HttpPullSource against it on loopback."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from connectors.http_pull import CursorStore, HttpPullSource, read_spool
from connectors.http_pull.sample_api import TOKEN_ENV, app_from_env, create_app, sample_products

from .server import serve

TOKEN = "sample-token-5a4b3c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {
    "name": "sample_products",
    "dataset": "products",
    "auth": {"token_env": "SAMPLE_API_TOKEN"},
    "record_path": "data.items",
    "pagination": {
        "type": "page_number",
        "page_param": "page",
        "size_param": "page_size",
        "page_size": 20,
    },
    "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
    "timeout_s": 2,
    "max_retries": 1,
}


def test_the_sample_has_fifty_products_with_increasing_updated_at() -> None:
    products = sample_products()
    assert len(products) == 50 and len({p["id"] for p in products}) == 50
    stamps = [p["updated_at"] for p in products]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)


def test_the_sample_api_needs_the_bearer_token() -> None:
    client = TestClient(create_app(token=TOKEN))
    assert client.get("/products").status_code == 401
    assert client.get("/products", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/health").json() == {"status": "ok"}


def test_the_sample_api_pages_and_filters_by_updated_since() -> None:
    client = TestClient(create_app(token=TOKEN))
    body = client.get("/products?page=5&page_size=10", headers=AUTH).json()
    assert [p["id"] for p in body["data"]["items"]] == list(range(41, 51))
    assert body["links"]["next"] is None and body["total"] == 50
    first = client.get("/products?page_size=10", headers=AUTH)
    assert "page=2" in first.json()["links"]["next"] and 'rel="next"' in first.headers["link"]
    since = sample_products()[44]["updated_at"]
    newer = client.get("/products", params={"updated_since": since}, headers=AUTH).json()
    assert [p["id"] for p in newer["data"]["items"]] == [46, 47, 48, 49, 50]
    assert client.get("/products?page_size=0", headers=AUTH).status_code == 400
    assert client.get("/products?updated_since=yesterday", headers=AUTH).status_code == 400


def test_the_app_factory_reads_the_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert TestClient(app_from_env()).get("/products", headers=AUTH).status_code == 200
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(SystemExit, match=TOKEN_ENV):
        app_from_env()


@pytest.mark.network
def test_an_incremental_pull_of_the_served_sample_api(tmp_path: Path) -> None:
    app = create_app(token=TOKEN)
    store = CursorStore(tmp_path / "state")
    with serve(app) as base_url:
        source = HttpPullSource.from_dict(
            {**CONFIG, "url": f"{base_url}/products"},
            cursor_store=store,
            environ={"SAMPLE_API_TOKEN": TOKEN},
        )
        full = source.fetch(tmp_path / "spool")
        assert (full.records, full.pages) == (50, 4)  # 20 + 20 + 10, then an empty page
        table = pa.Table.from_batches(list(read_spool(full.spool_path, 1000, columns=full.columns)))
        assert table.column("id").to_pylist() == [str(i) for i in range(1, 51)]
        assert table.column("tags")[0].as_py() == '["garden","batch-1"]'
        store.set(source.name, full.new_cursor)

        TestClient(app).post("/products/7/touch", headers=AUTH)
        delta = source.fetch(tmp_path / "spool")
        assert delta.records == 1 and delta.since == full.new_cursor
        assert delta.new_cursor is not None and delta.new_cursor > full.new_cursor
