"""The push service: a Starlette ASGI app.

Routes:

- ``POST /v1/datasets/{dataset}/batches`` — push one batch (see the README for the contract);
- ``GET /healthz`` — liveness, no auth, nothing sensitive;
- ``GET /openapi.json`` — the OpenAPI 3 document;
- ``GET /v1/receipt-key`` — the receipt-signing public key as a JWK (404 when signing is off).

A push is checked in this order, and the first failure answers: exactly one ``Authorization``
header holding a bearer token signed by a key bound to the partner its ``sub`` names (401, or 503
when the JWKS cannot be fetched) → rate per partner (429 + ``Retry-After``) → known dataset (404) →
dataset allowed to the partner and granted by the token (403) → ``Content-Type`` /
``Content-Encoding`` (415) → ``Idempotency-Key`` syntax (400) → declared ``Content-Length`` (413).
The body is then streamed to the landing area with the size limit enforced chunk by chunk (413 as
soon as it is crossed), checked (400), made durable and only then answered ``202`` with the
receipt. Header size, header time and connections are limited below the app, by
:mod:`connectors.http_push.serving`. Every error body is
``{"error": <code>, "detail": <what is wrong>}``; tokens are never echoed or logged.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.http_push.auth import SCOPE_PREFIX, Authenticator, Caller
from connectors.http_push.config import PushConfig
from connectors.http_push.exceptions import (
    AuthenticationError,
    AuthorizationError,
    IdempotencyConflictError,
    KeysUnavailableError,
    PayloadInvalidError,
    PayloadTooLargeError,
)
from connectors.http_push.landing import FORMATS, Landing
from connectors.http_push.openapi import openapi_document
from connectors.http_push.ratelimit import RateLimiter, retry_after_header
from connectors.http_push.receipts import ReceiptSigner
from connectors.http_push.serving import (
    auth_refusal,
    authorization_header,
    error_response,
    quoted,
    redact_access_log,
    server_error,
)

log = logging.getLogger(__name__)

_GZIP = {"gzip", "x-gzip"}
_IDENTITY = {"", "identity"}
_REALM = "maestro-push"


def parse_media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``text/csv; charset=utf-8`` -> (``text/csv``, ``{"charset": "utf-8"}``)."""
    if not value:
        return "", {}
    media, *params = value.split(";")
    parsed = {}
    for p in params:
        k, _, v = p.partition("=")
        parsed[k.strip().lower()] = v.strip().strip('"')
    return media.strip().lower(), parsed


class PushService:
    """Holds the configured parts; its methods are the route endpoints."""

    def __init__(
        self,
        cfg: PushConfig,
        *,
        authenticator: Authenticator,
        limiter: RateLimiter,
        landing: Landing,
        signer: ReceiptSigner | None,
    ) -> None:
        self.cfg = cfg
        self.auth = authenticator
        self.limiter = limiter
        self.landing = landing
        self.signer = signer
        self.openapi = openapi_document(cfg)

    async def healthz(self, request: Request) -> Response:
        ok = os.access(self.cfg.landing_root, os.W_OK)
        return JSONResponse(
            {"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503
        )

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.openapi)

    async def receipt_key(self, request: Request) -> Response:
        if self.signer is None:
            return error_response(404, "not_configured", "receipt signing is not configured")
        return JSONResponse(self.signer.public_jwk())

    async def push(self, request: Request) -> Response:
        dataset = request.path_params["dataset"]
        refusal, bound = await self._admit(request, dataset)
        if refusal is not None:
            return refusal
        assert bound is not None
        caller = bound.subject
        media, params = parse_media_type(request.headers.get("content-type"))
        if media not in FORMATS:
            return self._refuse(
                415,
                "unsupported_media_type",
                f"Content-Type {media or '(none)'!r} is not accepted; use one of {sorted(FORMATS)}",
                dataset,
                caller,
            )
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            return self._refuse(
                415,
                "unsupported_media_type",
                f"charset {params['charset']!r} is not accepted; send UTF-8",
                dataset,
                caller,
            )
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in _GZIP | _IDENTITY:
            return self._refuse(
                415,
                "unsupported_media_type",
                f"Content-Encoding {encoding!r} is not accepted; use gzip or none",
                dataset,
                caller,
            )
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= 255 and all(33 <= ord(c) < 127 for c in key)):
            return self._refuse(
                400,
                "invalid_request",
                "Idempotency-Key must be 1-255 visible ASCII characters",
                dataset,
                caller,
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.cfg.max_body_bytes:
            return self._refuse(
                413,
                "payload_too_large",
                f"body of {declared} bytes is over the limit of {self.cfg.max_body_bytes} bytes",
                dataset,
                caller,
                close=True,
            )
        return await self._receive(request, dataset, caller, media, encoding in _GZIP, key)

    async def _admit(self, request: Request, dataset: str) -> tuple[Response | None, Caller | None]:
        """Authentication, rate limit, dataset and grant checks: (refusal, caller)."""
        try:
            header = authorization_header(request)
            caller = await anyio.to_thread.run_sync(self.auth.authenticate, header)
        except (AuthenticationError, KeysUnavailableError) as err:
            status = 503 if isinstance(err, KeysUnavailableError) else 401
            log.log(
                logging.WARNING if status == 503 else logging.INFO,
                "push to %r refused: %d %s",
                dataset,
                status,
                err,
            )
            return auth_refusal(err, _REALM), None
        # From here on the caller is the partner the signing key is bound to: its rate bucket,
        # its idempotency namespace, its name in receipts and logs.
        wait = self.limiter.acquire(caller.subject)
        if wait > 0:
            return self._refuse(
                429,
                "rate_limited",
                f"too many requests from {caller.subject!r}; retry in {wait:.1f} s",
                dataset,
                caller.subject,
                headers={"Retry-After": retry_after_header(wait)},
            ), None
        if dataset not in self.cfg.datasets:
            return self._refuse(
                404,
                "unknown_dataset",
                f"dataset {dataset!r} does not accept pushes",
                dataset,
                caller.subject,
            ), None
        try:
            self.auth.authorize(caller, dataset)
        except AuthorizationError as err:
            return self._refuse(
                403,
                "insufficient_scope",
                str(err),
                dataset,
                caller.subject,
                headers={
                    "WWW-Authenticate": f'Bearer realm="{_REALM}", '
                    f'error="insufficient_scope", '
                    f'scope="{quoted(SCOPE_PREFIX + dataset)}"'
                },
            ), None
        return None, caller

    async def _receive(
        self, request: Request, dataset: str, caller: str, media: str, gz: bool, key: str | None
    ) -> Response:
        body = await anyio.to_thread.run_sync(
            partial(
                self.landing.open_body,
                dataset,
                content_type=media,
                gzip=gz,
                max_bytes=self.cfg.max_body_bytes,
                max_decoded_bytes=self.cfg.max_decoded_bytes,
            )
        )
        try:
            async for chunk in request.stream():
                if chunk:
                    await anyio.to_thread.run_sync(body.write, chunk)
            await anyio.to_thread.run_sync(body.finish)
            result = await anyio.to_thread.run_sync(
                partial(
                    self.landing.commit,
                    dataset,
                    body,
                    content_type=media,
                    caller=caller,
                    idempotency_key=key,
                    sign=self.signer.sign if self.signer else None,
                )
            )
        except PayloadTooLargeError as err:
            return self._refuse(413, "payload_too_large", str(err), dataset, caller, close=True)
        except PayloadInvalidError as err:
            return self._refuse(400, "invalid_body", str(err), dataset, caller)
        except IdempotencyConflictError as err:
            return self._refuse(422, "idempotency_key_reused", str(err), dataset, caller)
        except ClientDisconnect:
            log.info(
                "push to %r by %r: client disconnected mid-body; nothing landed", dataset, caller
            )
            return Response(status_code=400)
        finally:
            await anyio.to_thread.run_sync(body.discard)
        receipt = result.receipt
        log.info(
            "push to %r by %r: 202 batch %s (%d bytes)%s",
            dataset,
            caller,
            receipt.batch_id,
            receipt.bytes,
            " replayed" if result.replayed else "",
        )
        headers = {"Idempotency-Replayed": "true"} if result.replayed else None
        return JSONResponse(receipt.to_dict(), status_code=202, headers=headers)

    @staticmethod
    def _refuse(
        status: int,
        error: str,
        detail: str,
        dataset: str,
        caller: str,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> JSONResponse:
        log.info("push to %r by %r refused: %d %s", dataset, caller, status, error)
        headers = dict(headers or {})
        if close:
            # The rest of the body is not read; closing is the only clean end of the exchange.
            headers["Connection"] = "close"
        return error_response(status, error, detail, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def create_app(
    cfg: PushConfig,
    *,
    authenticator: Authenticator | None = None,
    limiter: RateLimiter | None = None,
    landing: Landing | None = None,
    signer: ReceiptSigner | None = None,
) -> Starlette:
    """Build the ASGI app; the optional parts default to what ``cfg`` describes.

    >>> app = create_app(PushConfig.from_dict({...}))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8087)  # doctest: +SKIP
    """
    if signer is None and cfg.receipt_signing_key is not None:
        signer = ReceiptSigner.from_pem_file(cfg.receipt_signing_key)
    service = PushService(
        cfg,
        authenticator=authenticator or Authenticator.from_config(cfg),
        limiter=limiter
        or RateLimiter(requests_per_s=cfg.rate.requests_per_s, burst=cfg.rate.burst),
        landing=landing or Landing(cfg.landing_root),
        signer=signer,
    )
    cfg.landing_root.mkdir(parents=True, exist_ok=True)
    redact_access_log()
    handlers: dict[Any, Any] = {HTTPException: _http_error, Exception: server_error}
    app = Starlette(
        routes=[
            Route("/v1/datasets/{dataset}/batches", service.push, methods=["POST"]),
            Route("/healthz", service.healthz, methods=["GET"]),
            Route("/openapi.json", service.openapi_json, methods=["GET"]),
            Route("/v1/receipt-key", service.receipt_key, methods=["GET"]),
        ],
        exception_handlers=handlers,
    )
    app.state.service = service
    return app
