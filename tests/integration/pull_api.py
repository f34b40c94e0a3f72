"""Helpers for the HTTP pull tests: the sample API changing under a pull, a source entry, and the
versions in bronze compared with the API's own history of versions."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from deltalake import DeltaTable

from connectors.http_pull.sample_api import touch_product

TOKEN = "pull-test-token"
KEYSET = {"type": "keyset", "size_param": "page_size", "page_size": 20}
KEYSET_INCREMENTAL = {
    "cursor_field": "updated_at",
    "param": "updated_since",
    "id_field": "id",
    "id_param": "after_id",
}


def pull_entry(url: str, **extra: Any) -> dict[str, Any]:
    """A ``catalogue_api`` source entry for the sample API at ``url`` (keyset, like the shipped one)."""
    return {
        "name": "catalogue_api",
        "kind": "http_pull",
        "dataset": "products",
        "url": f"{url}/products",
        "auth": {"token_env": "SAMPLE_API_TOKEN"},
        "format": "json",
        "record_path": "data.items",
        "pagination": KEYSET,
        "incremental": KEYSET_INCREMENTAL,
        "timeout_s": 2,
        "max_retries": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **extra,
    }


class ChangingApi:
    """ASGI wrapper of the sample API: after each ``/products`` page it serves, it makes a new
    version of ``per_page`` products whose current version was already served (by this or an
    earlier request), as a catalogue edited while a client pages through it would. Updating a
    product already read moves it to the end of the order, which shifts the later ones forward
    by one. (A version replaced before anyone could read it is not observable by any client, so
    only served versions are replaced: then every version in the history can be pulled.)"""

    def __init__(
        self, app: Any, *, per_page: int = 1, pages: int = 10**9, seed: int = 8, delay_s: float = 0.0
    ) -> None:
        self.app, self.per_page, self.pages, self.delay_s = app, per_page, pages, delay_s
        self.rng = random.Random(seed)
        self.served: set[tuple[int, str]] = set()
        self.page_requests = 0
        self.touched = 0
        self.enabled = True

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/products" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # a slow API, so that two pulls overlap
        body = bytearray()
        status = 0

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if status != 200:
            return
        items = json.loads(bytes(body))["data"]["items"]
        self.served.update((p["id"], p["updated_at"]) for p in items)
        self.page_requests += 1
        if self.enabled and items and self.page_requests <= self.pages:
            products = self.app.state.products
            current = sorted(p["id"] for p in products if (p["id"], p["updated_at"]) in self.served)
            for product_id in self.rng.sample(current, min(self.per_page, len(current))):
                touch_product(self.app, product_id)
                self.touched += 1


def _instant(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def api_versions(app: Any) -> Counter[tuple[int, str]]:
    """Every ``(id, updated_at)`` the API ever had (its history of versions)."""
    return Counter((int(p["id"]), _instant(p["updated_at"])) for p in app.state.history)


def bronze_versions(table_uri: str) -> Counter[tuple[int, str]]:
    """``(id, updated_at)`` of every row in a bronze table, with how often each occurs."""
    table = DeltaTable(table_uri).to_pyarrow_table(columns=["id", "updated_at"])
    return Counter(
        (int(i), _instant(u))
        for i, u in zip(table.column("id").to_pylist(), table.column("updated_at").to_pylist(), strict=True)
    )
