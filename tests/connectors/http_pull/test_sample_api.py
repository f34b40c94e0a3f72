"""The sample products API: bearer auth, pagination, updated_since, and a full incremental pull
by HttpPullSource against it on loopback."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from connectors.http_pull import CursorStore, HttpPullSource, read_spool
from connectors.http_pull.sample_api import (
    TOKEN_ENV,
    app_from_env,
    create_app,
    sample_products,
    touch_product,
)

from .server import serve

TOKEN = "sample-token-5a4b3c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {
    "name": "sample_products",
    "dataset": "products",
    "auth": {"token_env": "SAMPLE_API_TOKEN"},
    "record_path": "data.items",
    "pagination": {"type": "keyset", "size_param": "page_size", "page_size": 20},
    "incremental": {
        "cursor_field": "updated_at",
        "param": "updated_since",
        "id_field": "id",
        "id_param": "after_id",
    },
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


def test_the_sample_api_pages_by_keyset_and_filters_by_updated_since() -> None:
    client = TestClient(create_app(token=TOKEN))
    first = client.get("/products?page_size=10", headers=AUTH)
    assert [p["id"] for p in first.json()["data"]["items"]] == list(range(1, 11))
    next_url = first.json()["links"]["next"]
    assert "after_id=10" in next_url and 'rel="next"' in first.headers["link"]
    second = client.get(next_url, headers=AUTH).json()
    assert [p["id"] for p in second["data"]["items"]] == list(range(11, 21))
    since = sample_products()[44]["updated_at"]
    newer = client.get("/products", params={"updated_since": since}, headers=AUTH).json()
    assert [p["id"] for p in newer["data"]["items"]] == [46, 47, 48, 49, 50]
    assert client.get("/products?page_size=0", headers=AUTH).status_code == 400
    assert client.get("/products?updated_since=yesterday", headers=AUTH).status_code == 400


def test_page_numbers_and_offsets_still_work_for_clients_that_count() -> None:
    client = TestClient(create_app(token=TOKEN))
    body = client.get("/products?page=5&page_size=10", headers=AUTH).json()
    assert [p["id"] for p in body["data"]["items"]] == list(range(41, 51))
    assert body["links"]["next"] is None and body["total"] == 50
    assert "page=2" in client.get("/products?page=1&page_size=10", headers=AUTH).json()["links"]["next"]
    body = client.get("/products?offset=45&limit=10", headers=AUTH).json()
    assert [p["id"] for p in body["data"]["items"]] == list(range(46, 51))


def test_a_touched_product_moves_after_every_other_and_its_versions_are_kept() -> None:
    app = create_app(token=TOKEN)
    before = dict(app.state.products[6])
    touched = dict(touch_product(app, 7) or {})
    again = dict(touch_product(app, 7) or {})
    assert touch_product(app, 999) is None
    assert before["updated_at"] < touched["updated_at"] < again["updated_at"]
    body = TestClient(app).get("/products?page_size=100", headers=AUTH).json()
    ids = [p["id"] for p in body["data"]["items"]]
    assert ids[-1] == 7 and len(ids) == 50
    assert [v["updated_at"] for v in app.state.history if v["id"] == 7] == [
        before["updated_at"], touched["updated_at"], again["updated_at"]
    ]
    assert len(app.state.history) == 52


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
        assert full.new_cursor is not None and full.new_cursor.id == "50"
        table = pa.Table.from_batches(list(read_spool(full.spool_path, 1000, columns=full.columns)))
        assert table.column("id").to_pylist() == [str(i) for i in range(1, 51)]
        assert table.column("tags")[0].as_py() == '["garden","batch-1"]'
        store.set(source.name, full.new_cursor)

        TestClient(app).post("/products/7/touch", headers=AUTH)
        delta = source.fetch(tmp_path / "spool")
        assert delta.records == 1 and delta.since == full.new_cursor
        assert delta.new_cursor is not None and delta.new_cursor.id == "7"
        assert delta.new_cursor.value > full.new_cursor.value
