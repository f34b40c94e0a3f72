"""A small products API for demos and tests: paginated JSON, bearer auth, ``?updated_since=``.

Serve it on loopback (the token comes from the environment when the app is *built*, never at
import)::

    SAMPLE_API_TOKEN=dev-token python -m connectors.http_pull.sample_api --port 8765
    # or: uvicorn --factory connectors.http_pull.sample_api:app_from_env --host 127.0.0.1

Endpoints:

- ``GET /products?page=1&page_size=10&updated_since=<ISO-8601>``: products with ``updated_at``
  strictly after ``updated_since``, ordered by ``(updated_at, id)``, as
  ``{"data": {"items": [...]}, "page", "page_size", "total", "links": {"next": url | null}}``
  plus a ``Link: <...>; rel="next"`` header. Needs ``Authorization: Bearer <token>``.
- ``POST /products/{id}/touch``: sets a product's ``updated_at`` to now (to demo incremental
  pulls). Needs the token.
- ``GET /health``: no auth.

A matching source config is in the package README (``page_number`` pagination, ``record_path:
data.items``, ``incremental: {cursor_field: updated_at, param: updated_since}``).
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


def create_app(
    *,
    token: str,
    products: Sequence[dict[str, Any]] | None = None,
    default_page_size: int = 10,
    max_page_size: int = 100,
) -> Starlette:
    """The app; its products live in ``app.state.products`` (a list you may change in tests)."""
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
            page = _int_param(request, "page", 1, 1, 1_000_000)
            size = _int_param(request, "page_size", default_page_size, 1, max_page_size)
            since_raw = request.query_params.get("updated_since")
            since = datetime.fromisoformat(since_raw) if since_raw else None
        except ValueError as err:
            return _error(400, str(err))
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        rows = sorted(
            request.app.state.products,
            key=lambda p: (datetime.fromisoformat(p["updated_at"]), p["id"]),
        )
        if since is not None:
            rows = [p for p in rows if datetime.fromisoformat(p["updated_at"]) > since]
        items = rows[(page - 1) * size : page * size]
        next_url = None
        headers = {}
        if page * size < len(rows):
            next_url = str(request.url.include_query_params(page=page + 1, page_size=size))
            headers["Link"] = f'<{next_url}>; rel="next"'
        body = {
            "data": {"items": items},
            "page": page,
            "page_size": size,
            "total": len(rows),
            "links": {"next": next_url},
        }
        return JSONResponse(body, headers=headers)

    async def touch(request: Request) -> JSONResponse:
        if not authorised(request):
            return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": "Bearer"})
        wanted = request.path_params["product_id"]
        for product in request.app.state.products:
            if product["id"] == wanted:
                product["updated_at"] = _iso(datetime.now(UTC))
                return JSONResponse(product)
        return _error(404, f"no product {wanted}")

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
