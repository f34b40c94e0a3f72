"""Test helpers: run an ASGI app with uvicorn on a free loopback port in a background thread,
and a fake paginated API that can fail on purpose (500, 503, 429 + Retry-After, slow answers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

TOKEN = "tok-9f8e7d6c5b4a-secret"
PAGE = 5


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yield its base URL; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="error", lifespan="off", timeout_graceful_shutdown=2, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):  # the server flips ``started`` once it is accepting connections
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def make_records(count: int = 23) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"item {i}",
            "price": f"{i}.10",  # replaced by a JSON number with two decimals when served
            "meta": {"tags": ["a", "b"], "rank": i},
            "note": None if i % 4 == 0 else f"note {i}",
            "updated_at": f"2024-03-01T{i:02d}:00:00Z",
        }
        for i in range(1, count + 1)
    ]


def _dump(value: Any) -> bytes:
    """JSON with ``price`` written as a number literal that a float would shorten (``1.10``)."""
    import json

    text = json.dumps(value)
    for rec in _walk(value):
        text = text.replace(f'"price": "{rec["price"]}"', f'"price": {rec["price"]}')
    return text.encode()


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "price" in value:
            yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@dataclass
class FakeApi:
    """A paginated API over ``records`` with a plan of faults per (endpoint, page index).

    ``faults[("pages", 1)] = ["500", "429:1"]`` makes the second page of ``/pages`` answer 500,
    then 429 with ``Retry-After: 1``, then normally. Actions: an HTTP status (``"500"``,
    ``"401"``), ``"429:<retry-after>"``, ``"sleep:<seconds>"``. ``always[endpoint]`` applies an
    action to every request. ``log`` records (endpoint, query, authorised) per request.
    """

    records: list[dict[str, Any]] = field(default_factory=make_records)
    faults: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    always: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, bool]] = field(default_factory=list)
    stuck_cursor: bool = False  # /cursor always answers next_cursor=c5 (a pagination loop)
    inclusive: bool = False  # /keyset filters updated_at >= updated_since and ignores after_id
    unsorted: bool = False  # /keyset serves each page in reverse order
    growing: bool = False  # every request adds a record newer than all (an API that never settles)

    def reset(self) -> None:
        self.stuck_cursor = False
        self.inclusive = False
        self.unsorted = False
        self.growing = False
        self.records = make_records()
        self.faults.clear()
        self.always.clear()
        self.log.clear()

    def requests_to(self, endpoint: str) -> list[str]:
        return [q for e, q, _ in self.log if e == endpoint]

    def app(self) -> Starlette:
        routes = [
            Route(f"/{name}", self._handler(name))
            for name in ("pages", "offset", "cursor", "links", "link_header", "ndjson", "csv", "keyset")
        ]
        return Starlette(routes=routes)

    def _visible(self, request: Request, endpoint: str) -> list[dict[str, Any]]:
        since = request.query_params.get("updated_since")
        after = request.query_params.get("after_id")
        if since is None:
            return list(self.records)
        if endpoint == "keyset" and self.inclusive:
            return [r for r in self.records if r["updated_at"] >= since]
        if endpoint == "keyset" and after is not None:
            return [r for r in self.records if (r["updated_at"], r["id"]) > (since, int(after))]
        return [r for r in self.records if r["updated_at"] > since]

    def _handler(self, endpoint: str) -> Any:
        async def handle(request: Request) -> Response:
            authorised = request.headers.get("authorization") == f"Bearer {TOKEN}"
            self.log.append((endpoint, request.url.query, authorised))
            if self.growing:
                n = len(self.records) + 1
                stamp = f"2024-03-02T{n // 60:02d}:{n % 60:02d}:00Z"
                self.records.append({**self.records[0], "id": n, "updated_at": stamp})
            rows = self._visible(request, endpoint)
            q = request.query_params
            if endpoint == "keyset":  # the position is the filter: every page starts at 0
                size, start = int(q.get("page_size", PAGE)), 0
            elif endpoint in ("pages", "ndjson"):
                size = int(q.get("page_size", PAGE))
                start = (int(q.get("page", 1)) - 1) * size
            elif endpoint in ("offset", "csv"):
                size, start = int(q.get("limit", PAGE)), int(q.get("offset", 0))
            elif endpoint == "cursor":
                size, start = PAGE, int(q.get("cursor", "c0")[1:])
            else:
                size, start = PAGE, int(q.get("after", 0))
            index = start // size
            action = self.always.get(endpoint) or _pop(self.faults.get((endpoint, index)))
            if action is not None:
                forced = await _apply(action)
                if forced is not None:
                    return forced
            if not authorised:
                return JSONResponse({"error": "bad token"}, status_code=401)
            items = rows[start : start + size]
            if endpoint == "keyset" and self.unsorted:
                items = items[::-1]
            nxt = start + size if start + size < len(rows) else None
            if endpoint == "cursor" and self.stuck_cursor:
                nxt = PAGE
            return _render(endpoint, request, items, nxt)

        return handle


def _pop(actions: list[str] | None) -> str | None:
    return actions.pop(0) if actions else None


async def _apply(action: str) -> Response | None:
    if action.startswith("sleep:"):
        await asyncio.sleep(float(action.split(":")[1]))
        return None
    if action.startswith("429"):
        _, _, after = action.partition(":")
        headers = {"Retry-After": after} if after else {}
        return JSONResponse({"error": "slow down"}, status_code=429, headers=headers)
    return PlainTextResponse(f"forced {action}", status_code=int(action))


def _render(
    endpoint: str, request: Request, items: list[dict[str, Any]], nxt: int | None
) -> Response:
    if endpoint == "pages":
        return Response(_dump({"data": {"items": items}}), media_type="application/json")
    if endpoint == "offset":
        return Response(_dump({"results": items}), media_type="application/json")
    if endpoint == "keyset":
        return Response(_dump({"items": items}), media_type="application/json")
    if endpoint == "cursor":
        body = {"items": items, "meta": {"next_cursor": f"c{nxt}" if nxt is not None else None}}
        return Response(_dump(body), media_type="application/json")
    if endpoint == "links":  # a relative next link in the body
        body = {
            "items": items,
            "links": {"next": f"links?after={nxt}" if nxt is not None else None},
        }
        return Response(_dump(body), media_type="application/json")
    if endpoint == "link_header":
        headers = {}
        if nxt is not None:
            headers["Link"] = f'<{request.url.include_query_params(after=nxt)}>; rel="next"'
        return Response(_dump(items), media_type="application/json", headers=headers)
    if endpoint == "ndjson":
        lines = b"".join(_dump(r) + b"\n" for r in items)
        return Response(lines, media_type="application/x-ndjson")
    header = "id,name,note,updated_at\n"
    rows = "".join(
        f'{r["id"]},"{r["name"]}, x",{r["note"] or ""},{r["updated_at"]}\n' for r in items
    )
    return Response((header + rows) if items else "", media_type="text/csv")
