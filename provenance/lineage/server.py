"""The lineage HTTP endpoint: OpenLineage events in (same path as Marquez), lineage answers out.

Routes:

- ``POST /api/v1/lineage`` — one OpenLineage event (JSON, optionally ``Content-Encoding: gzip``:
  every gzip member is read, the decoded size capped at ``max_body_bytes`` across them).
  Checked in this order, the first failure answers: exactly one bearer token (401; 503 when the
  JWKS is unreachable) → scope ``lineage:write`` (403) → media type (415) → size (413) → JSON,
  nesting at most 64 levels (400) → schema, every facet included (400, ``detail`` says why;
  nothing is appended). Then the event's value-free ledger entry is appended durably and the
  answer is ``201 {"index": n}``. A ledger held by another writer for longer than
  ``lock_timeout_s`` answers 503 with ``Retry-After``.
- ``GET /api/v1/lineage/{upstream|downstream|columns|runs}`` — scope ``lineage:read``; the dataset
  is ``?dataset=<uri or path>`` or ``?namespace=...&name=...``; ``depth``, ``column`` (for
  ``columns``), ``direct_only``, ``limit`` as in :mod:`provenance.lineage.query`. 404 for a dataset
  no event mentions.
- ``GET /healthz`` — liveness, no auth.

Any OpenLineage client's HTTP transport works against it (``url`` = this server, endpoint
``api/v1/lineage``, auth ``api_key`` = the JWT). Tokens are checked as the push endpoint checks
them (:mod:`connectors.http_push.auth`: finite whole-second dates, a bounded lifetime); the
server runs under the push endpoint's serving rules (:mod:`connectors.http_push.serving`: header
size and time limits, a connection cap, no query strings in access logs, one translation of
authentication errors). Errors are ``{"error", "detail"}``, never a traceback; tokens are never
echoed or logged. Run it with ``python -m provenance.lineage.server --config FILE``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import zlib
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.http_push import serving
from connectors.http_push.body import GzipInflater
from connectors.http_push.exceptions import AuthenticationError, KeysUnavailableError
from connectors.jsontext import MAX_DEPTH, JsonDepthError, loads
from provenance.exceptions import LedgerBusyError, ProvenanceError
from provenance.lineage.entry import to_ledger_entry
from provenance.lineage.exceptions import LineageConfigError, UnknownDatasetError
from provenance.lineage.naming import DatasetRef, parse_dataset
from provenance.lineage.query import DEFAULT_DEPTH, LineageIndex
from provenance.lineage.server_config import READ_SCOPE, WRITE_SCOPE, LineageServerConfig
from provenance.lineage.transport import append_entry
from provenance.lineage.validate import EventValidator

__all__ = ["create_app", "main"]

log = logging.getLogger(__name__)
_QUERIES = ("upstream", "downstream", "columns", "runs")


_error = serving.error_response
_REALM = "maestro-lineage"


class LineageService:
    """Request handlers over one ledger; the query index is refreshed incrementally."""

    def __init__(self, cfg: LineageServerConfig, *, authenticator: Any | None = None) -> None:
        self.cfg = cfg
        self.auth = authenticator or cfg.authenticator()
        self.validator = EventValidator.for_spec_dir(cfg.spec_dir)
        self.index = LineageIndex()
        self._index_lock = threading.Lock()

    async def _admit(self, request: Request, scope: str) -> Response | None:
        try:
            header = serving.authorization_header(request)
            caller = await anyio.to_thread.run_sync(self.auth.authenticate, header)
        except (AuthenticationError, KeysUnavailableError) as err:
            log.info("lineage request refused: %s", err)
            return serving.auth_refusal(err, _REALM)
        if scope not in caller.scopes:
            log.info("lineage request of %r refused: 403 (needs %s)", caller.subject, scope)
            return _error(
                403,
                "insufficient_scope",
                f"the token of {caller.subject!r} lacks scope {scope!r}",
                {
                    "WWW-Authenticate": f'Bearer realm="{_REALM}", '
                    f'error="insufficient_scope", scope="{scope}"'
                },
            )
        return None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def post_event(self, request: Request) -> Response:
        refused = await self._admit(request, WRITE_SCOPE)
        if refused is not None:
            return refused
        media = (
            request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        )
        if media not in ("application/json", ""):
            return _error(415, "unsupported_media_type", f"send application/json, not {media!r}")
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        try:
            doc = loads(body.decode("utf-8"), max_depth=MAX_DEPTH)
        except JsonDepthError:
            return _error(400, "invalid_json", f"the event nests deeper than {MAX_DEPTH} levels")
        except (UnicodeDecodeError, ValueError) as err:
            return _error(400, "invalid_json", f"the body is not UTF-8 JSON: {err}")
        report = self.validator.validate(doc)
        if not report.ok:
            return JSONResponse(
                {
                    "error": "invalid_event",
                    "detail": "; ".join(report.errors[:5]),
                    "errors": report.errors,
                },
                status_code=400,
            )
        entry = to_ledger_entry(doc)
        try:
            index = await anyio.to_thread.run_sync(self._append, entry)
        except LedgerBusyError:
            return _error(
                503, "ledger_busy", "the ledger is busy; retry shortly", {"Retry-After": "1"}
            )
        return JSONResponse({"index": index}, status_code=201)

    def _append(self, entry: bytes) -> int:
        return append_entry(
            self.cfg.ledger_dir,
            entry,
            key_dir=self.cfg.key_dir,
            lock_timeout_s=self.cfg.lock_timeout_s,
            endpoint_url=self.cfg.endpoint_url,
        )

    async def _body(self, request: Request) -> bytes | Response:
        """The request body, gunzipped (every member) and capped at ``max_body_bytes`` decoded."""
        limit = self.cfg.max_body_bytes
        too_large = _error(413, "too_large", f"the (decoded) body is over {limit} bytes")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return too_large
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "", "gzip", "x-gzip"):
            return _error(
                415, "unsupported_encoding", f"Content-Encoding {encoding!r}; use gzip or none"
            )
        inflater = GzipInflater() if encoding in ("gzip", "x-gzip") else None
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                for part in inflater.feed(chunk) if inflater is not None else (chunk,):
                    size += len(part)
                    if size > limit:
                        return too_large
                    chunks.append(part)
        except zlib.error as err:
            return _error(400, "invalid_gzip", f"the body is not valid gzip: {err}")
        if inflater is not None and not inflater.complete:
            return _error(400, "invalid_gzip", "the gzip body is truncated")
        return b"".join(chunks)

    def _answer(self, kind: str, ref: DatasetRef, params: Mapping[str, Any]) -> dict[str, Any]:
        """Refresh the index from the ledger, then answer (in a worker thread)."""
        with self._index_lock:
            self.index.refresh(self.cfg.ledger_dir, endpoint_url=self.cfg.endpoint_url)
            if kind == "upstream":
                return self.index.upstream(ref, depth=params["depth"])
            if kind == "downstream":
                return self.index.downstream(ref, depth=params["depth"])
            if kind == "columns":
                return self.index.columns(
                    ref, params["column"], depth=params["depth"], direct_only=params["direct_only"]
                )
            return self.index.runs(ref, limit=params["limit"])

    async def query(self, request: Request) -> Response:
        refused = await self._admit(request, READ_SCOPE)
        if refused is not None:
            return refused
        kind = request.path_params["query"]
        if kind not in _QUERIES:
            return _error(
                404, "unknown_query", f"no lineage query {kind!r}; use one of {list(_QUERIES)}"
            )
        q = request.query_params
        try:
            if q.get("namespace") and q.get("name"):
                ref = parse_dataset(q["name"], namespace=q["namespace"])
            elif q.get("dataset"):
                ref = parse_dataset(q["dataset"])
            else:
                raise ValueError("name the dataset: ?dataset=<uri> or ?namespace=..&name=..")
            params: dict[str, Any] = {
                "depth": int(q.get("depth", DEFAULT_DEPTH)),
                "limit": int(q.get("limit", 50)),
                "column": q.get("column") or q.get("field"),
                "direct_only": q.get("direct_only") in ("1", "true"),
            }
            if params["depth"] < 0 or params["limit"] < 1:
                raise ValueError("depth must be >= 0 and limit >= 1")
            if kind == "columns" and not params["column"]:
                raise ValueError("name the column: ?column=<name>")
        except ValueError as err:
            return _error(400, "invalid_query", str(err))
        try:
            answer = await anyio.to_thread.run_sync(self._answer, kind, ref, params)
        except UnknownDatasetError as err:
            return _error(404, "unknown_dataset", str(err))
        except ProvenanceError as err:
            log.error("lineage query failed: %s", err)
            return _error(500, "ledger_error", "the ledger could not be read; see the server log")
        return JSONResponse(answer)


def create_app(cfg: LineageServerConfig, *, authenticator: Any | None = None) -> Starlette:
    """The ASGI app; ``authenticator`` overrides the one built from ``cfg`` (tests)."""
    service = LineageService(cfg, authenticator=authenticator)
    serving.redact_access_log()
    app = Starlette(
        routes=[
            Route("/healthz", service.healthz, methods=["GET"]),
            Route("/api/v1/lineage", service.post_event, methods=["POST"]),
            Route("/api/v1/lineage/{query}", service.query, methods=["GET"]),
        ],
        exception_handlers={Exception: serving.server_error},
    )
    app.state.service = service
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provenance.lineage.server")
    parser.add_argument("--config", required=True, help="the server's YAML config")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        cfg = LineageServerConfig.from_yaml(args.config)
        app = create_app(cfg)
    except LineageConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # The push endpoint's serving rules: header, time and connection limits; access logs carry
    # method, path (no query string) and status, never headers or tokens.
    serving.run(app, limits=cfg.server, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
