"""A small products API for demos and tests: paginated JSON, bearer auth, ``?updated_since=``.

Serve it on loopback (the token comes from the environment when the app is *built*, never at
import)::

    SAMPLE_API_TOKEN=dev-token python -m connectors.http_pull.sample_api --port 8765
    # or: uvicorn --factory connectors.http_pull.sample_api:app_from_env --host 127.0.0.1

Endpoints:

- ``GET /products?updated_since=<ISO-8601>&after_id=<id>&page_size=10``: keyset pages, the
  products after the position ``(updated_since, after_id)`` in ``(updated_at, id)`` order
  (without ``after_id``: ``updated_at`` strictly after ``updated_since``), as
  ``{"data": {"items": [...]}, "page_size", "total", "links": {"next": url | null}}`` plus a
  ``Link: <...>; rel="next"`` header whose URL carries the last item's position. Stable while
  products change: an update moves a product to the end of the order and shifts nothing.
- ``GET /products?page=2&page_size=10&updated_since=...`` or ``?offset=20&limit=10``: the same
  order by page number or offset (for clients that can only count; records shift between pages
  when products change).
- ``POST /products/{id}/touch``: a new version of a product: ``updated_at`` becomes now (always
  after every earlier ``updated_at``). Needs the token.
- ``GET /health``: no auth.

Every version a product ever had is appended to ``app.state.history`` (the API's own record, so
tests can check that a pull got every version). A matching source config is in the package
README (``keyset`` pagination, ``record_path: data.items``, ``incremental: {cursor_field:
updated_at, param: updated_since, id_field: id, id_param: after_id}``).
"""

from __future__ import annotations

import argparse
import hmac
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_ENV = "SAMPLE_API_TOKEN"
_CATEGORIES = ("tools", "garden", "kitchen", "toys", "books")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sample_products(count: int = 50) -> list[dict[str, Any]]:
    """``count`` deterministic products, ``updated_at`` spread over the first days of 2024.

    >>> p = sample_products(2)[1]
    >>> p["id"], p["sku"], p["updated_at"]
    (2, 'SKU-0002', '2024-01-01T07:00:00Z')
    """
    products = []
    for i in range(1, count + 1):
        products.append(
            {
                "id": i,
                "sku": f"SKU-{i:04d}",
                "name": f"Product {i}",
                "category": _CATEGORIES[i % len(_CATEGORIES)],
                "price": round(1.5 + (i * 37 % 200) + (i % 4) * 0.25, 2),
                "in_stock": i % 3 != 0,
                "tags": [_CATEGORIES[i % len(_CATEGORIES)], f"batch-{i % 7}"],
                "dimensions": {"width_cm": 10 + i % 9, "height_cm": 5 + i % 4},
                "discontinued_at": _iso(_EPOCH + timedelta(days=30)) if i % 17 == 0 else None,
                # Each product in its own 7-hour slot, so updated_at is strictly increasing.
                "updated_at": _iso(_EPOCH + timedelta(hours=7 * (i - 1))),
            }
        )
    return products


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _when(product: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(product["updated_at"])


def touch_product(app: Starlette, product_id: int) -> dict[str, Any] | None:
    """Make a new version of a product (as ``POST /products/{id}/touch`` does); None if unknown.

    Its ``updated_at`` is now, or a microsecond after the newest ``updated_at`` if the clock is
    behind, so every version has its own ``(id, updated_at)`` and moves to the end of the order.
    """
    products = app.state.products
    newest = max((_when(p) for p in products), default=_EPOCH)
    for product in products:
        if product["id"] == product_id:
            product["updated_at"] = _iso(max(datetime.now(UTC), newest + timedelta(microseconds=1)))
            app.state.history.append(dict(product))
            return product
    return None


def create_app(
    *,
    token: str,
    products: Sequence[dict[str, Any]] | None = None,
    default_page_size: int = 10,
    max_page_size: int = 100,
) -> Starlette:
    """The app; its products live in ``app.state.products`` (a list you may change in tests) and
    every version they had in ``app.state.history``."""
    if not token:
        raise ValueError("the sample API needs a non-empty bearer token")
    expected = f"Bearer {token}".encode()

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def list_products(request: Request) -> JSONResponse:
        if not authorised(request):
            return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            paged = "page" in request.query_params or "offset" in request.query_params
            page = _int_param(request, "page", 1, 1, 1_000_000)
            size = _int_param(request, "page_size", default_page_size, 1, max_page_size)
            size = _int_param(request, "limit", size, 1, max_page_size)
            offset = _int_param(request, "offset", (page - 1) * size, 0, 10**9)
            after_id = _int_param(request, "after_id", 0, 0, 2**63 - 1)
            keyset = "after_id" in request.query_params
            since_raw = request.query_params.get("updated_since")
            since = datetime.fromisoformat(since_raw) if since_raw else None
        except ValueError as err:
            return _error(400, str(err))
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        rows = sorted(request.app.state.products, key=lambda p: (_when(p), p["id"]))
        if since is not None and keyset:
            rows = [p for p in rows if (_when(p), p["id"]) > (since, after_id)]
        elif since is not None:
            rows = [p for p in rows if _when(p) > since]
        items = rows[offset : offset + size]
        next_url = None
        headers = {}
        if offset + size < len(rows):
            if "offset" in request.query_params:
                next_url = str(request.url.include_query_params(offset=offset + size, limit=size))
            elif paged:
                next_url = str(request.url.include_query_params(page=page + 1, page_size=size))
            else:
                last = items[-1]
                position = {"updated_since": last["updated_at"], "after_id": last["id"]}
                next_url = str(request.url.include_query_params(**position, page_size=size))
            headers["Link"] = f'<{next_url}>; rel="next"'
        body = {
            "data": {"items": items},
            **({"page": page} if paged else {}),
            "page_size": size,
            "total": len(rows),
            "links": {"next": next_url},
        }
        return JSONResponse(body, headers=headers)

    async def touch(request: Request) -> JSONResponse:
        if not authorised(request):
            return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": "Bearer"})
        wanted = request.path_params["product_id"]
        product = touch_product(request.app, wanted)
        if product is None:
            return _error(404, f"no product {wanted}")
        return JSONResponse(product)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/products", list_products, methods=["GET"]),
            Route("/products/{product_id:int}/touch", touch, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.products = [
        dict(p) for p in (products if products is not None else sample_products())
    ]
    app.state.history = [dict(p) for p in app.state.products]
    return app


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory``: the token is read from ``SAMPLE_API_TOKEN`` now."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"set {TOKEN_ENV} to the bearer token the sample API should accept")
    return create_app(token=token)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the sample API on loopback (``--host`` exists for containers; keep it local)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    uvicorn.run(app_from_env(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
