"""The OpenAPI 3 document served at ``GET /openapi.json`` (built from the running config)."""

from __future__ import annotations

from typing import Any

from connectors.http_push.config import PushConfig
from connectors.http_push.landing import FORMATS


def _error(description: str, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    resp: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        resp["headers"] = headers
    return resp


def openapi_document(cfg: PushConfig, *, version: str = "1.0.0") -> dict[str, Any]:
    body_schema = {"type": "string", "format": "binary"}
    receipt_props = {
        "batch_id": {"type": "string", "description": "Time-ordered id of the landed batch."},
        "dataset": {"type": "string"},
        "sha256": {"type": "string", "description": "SHA-256 (hex) of the bytes as received."},
        "bytes": {"type": "integer", "description": "Size of the bytes as received."},
        "content_type": {"type": "string", "enum": list(FORMATS)},
        "content_encoding": {"type": "string", "enum": ["identity", "gzip"]},
        "decoded_sha256": {"type": "string", "description": "SHA-256 of the decoded body."},
        "decoded_bytes": {"type": "integer"},
        "received_at": {"type": "string", "format": "date-time", "description": "UTC."},
        "caller": {
            "type": "string",
            "description": "The partner the signing key is bound to (equal to the token's `sub`).",
        },
        "file": {"type": "string"},
        "idempotency_key_sha256": {"type": "string"},
        "signature_key_id": {"type": "string"},
        "signature": {
            "type": "string",
            "description": "Ed25519 signature (base64url) over the canonical JSON of every "
            "other field; key at GET /v1/receipt-key. Present when receipt signing is on.",
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Maestro Conductor push API",
            "version": version,
            "description": "Partners push batches of rows (CSV, JSON array or NDJSON) for a "
            "dataset. Each accepted body is stored durably before the 202 answer.",
        },
        "components": {
            "securitySchemes": {
                "bearerJWT": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": f"JWT signed with one of {list(cfg.algorithms)} by a key bound "
                    f"to your partner identity; issuer {cfg.issuer!r}, audience {cfg.audience!r}, "
                    "`sub` = your partner name; `exp` required, whole seconds, at most "
                    f"{cfg.max_token_lifetime_s:.0f} s after `iat` (or now). Scope entries "
                    "`push:<dataset>` or a `datasets` list claim may narrow the datasets your "
                    "partner binding allows, never widen them; exactly one Authorization header.",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "Receipt": {
                    "type": "object",
                    "required": [
                        "batch_id",
                        "dataset",
                        "sha256",
                        "bytes",
                        "content_type",
                        "received_at",
                        "caller",
                    ],
                    "properties": receipt_props,
                },
            },
        },
        "paths": {
            "/v1/datasets/{dataset}/batches": {
                "post": {
                    "summary": "Push one batch",
                    "security": [{"bearerJWT": []}],
                    "parameters": [
                        {
                            "name": "dataset",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(cfg.datasets)},
                        },
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Retries with the same key (same caller, dataset and "
                            "body) return the first receipt; a different body gives 422.",
                            "schema": {"type": "string", "maxLength": 255},
                        },
                        {
                            "name": "Content-Encoding",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "enum": ["identity", "gzip"]},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "description": f"At most {cfg.max_body_bytes} bytes as sent and "
                        f"{cfg.max_decoded_bytes} bytes decoded; UTF-8.",
                        "content": {ct: {"schema": body_schema} for ct in FORMATS},
                    },
                    "responses": {
                        "202": {
                            "description": "Stored durably; the receipt.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Receipt"}
                                }
                            },
                        },
                        "400": _error("Empty body, bad gzip, not UTF-8 or bad Idempotency-Key."),
                        "401": _error(
                            "Missing or invalid token.",
                            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
                        ),
                        "403": _error(
                            "Token valid but the partner may not push to this dataset, or the "
                            "token narrows it away."
                        ),
                        "404": _error("Unknown dataset."),
                        "413": _error("Body over the size limit."),
                        "415": _error("Unsupported Content-Type or Content-Encoding."),
                        "422": _error("Idempotency-Key reused with a different body."),
                        "429": _error(
                            "Too many requests from this caller.",
                            headers={"Retry-After": {"schema": {"type": "integer"}}},
                        ),
                        "503": _error("Verification keys unavailable, or no connection free; retry later."),
                        "408": _error(
                            f"The request line and headers did not arrive within "
                            f"{cfg.server.header_timeout_s:.0f} s."
                        ),
                        "431": _error(
                            f"The request line and headers are over {cfg.server.max_header_bytes} bytes."
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness (no auth)",
                    "responses": {
                        "200": {
                            "description": "Up",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/v1/receipt-key": {
                "get": {
                    "summary": "Receipt verification key as an Ed25519 JWK (no auth)",
                    "responses": {
                        "200": {"description": "The JWK"},
                        "404": _error("Receipt signing is not configured."),
                    },
                }
            },
        },
    }
