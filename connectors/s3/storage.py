"""delta-rs (``deltalake``) storage options for Delta tables at ``s3://bucket/path``.

One builder so every writer of a table uses the same, safe commit protocol. The options:

- ``AWS_REGION``; ``AWS_ENDPOINT_URL`` for S3-compatible stores (MinIO, R2, moto);
  ``AWS_ALLOW_HTTP=true`` only when that endpoint is ``http://``.
- ``aws_conditional_put=etag``: a commit writes ``_delta_log/<version>.json`` with
  ``If-None-Match: *``, so exactly one of two concurrent writers creates a given version; the
  other gets a conflict and delta-rs retries at the next version (blind appends rebase
  cleanly). No DynamoDB lock is needed. AWS S3 (since 2024), MinIO, R2 and moto support it.
  Deliberately never set: ``AWS_S3_LOCKING_PROVIDER`` (needs DynamoDB, which we don't run) and
  ``AWS_S3_ALLOW_UNSAFE_RENAME`` (lets concurrent writers overwrite each other's commits);
  :func:`delta_storage_options` refuses them in ``extra``.
- ``connect_timeout``, ``timeout`` (per request), ``max_retries`` and ``retry_timeout`` (bounded
  retries with backoff): every call has a timeout and a retry budget, as for the boto3 client.
- Credentials: pass them explicitly (the local test server, a resource that resolved them), or
  leave them out and delta-rs resolves the AWS default chain itself (env, profile, instance role).

Library code in ``lake/`` imports none of the other packages: orchestration calls this builder
and hands the plain dict to the lake functions.

>>> opts = delta_storage_options("http://127.0.0.1:9000", "us-east-1")
>>> opts["aws_conditional_put"], opts["AWS_ALLOW_HTTP"]
('etag', 'true')
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from connectors.exceptions import SourceConfigError

_FORBIDDEN = frozenset(
    {"aws_s3_allow_unsafe_rename", "aws_s3_locking_provider", "copy_if_not_exists"}
)


def delta_storage_options(
    endpoint_url: str | None,
    region: str,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    connect_timeout_s: float = 5.0,
    timeout_s: float = 60.0,
    max_retries: int = 5,
    retry_timeout_s: float = 120.0,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Storage options for ``deltalake.write_deltalake`` / ``DeltaTable`` on S3.

    Args:
        endpoint_url: ``None`` for AWS S3, else the S3-compatible endpoint (``http(s)://host:port``).
        region: the signing region.
        access_key_id, secret_access_key, session_token: explicit credentials; omit both key and
            secret to let delta-rs use the AWS default chain.
        connect_timeout_s, timeout_s: per-request connect and total timeouts.
        max_retries, retry_timeout_s: the retry budget per request.
        extra: further object-store options (e.g. ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST``); the unsafe
            commit options are rejected.
    """
    if endpoint_url is not None and not re.match(r"^https?://[^/\s]+/?$", endpoint_url):
        raise SourceConfigError(
            f"delta storage options: endpoint_url must be http(s)://host[:port], "
            f"got {endpoint_url!r}"
        )
    if not region:
        raise SourceConfigError("delta storage options: region must be set (e.g. 'us-east-1')")
    if (access_key_id is None) != (secret_access_key is None):
        raise SourceConfigError(
            "delta storage options: pass both access_key_id and secret_access_key, or neither "
            "(then the AWS default credential chain is used)"
        )
    options: dict[str, str] = {
        "AWS_REGION": region,
        "aws_conditional_put": "etag",
        "connect_timeout": _duration(connect_timeout_s),
        "timeout": _duration(timeout_s),
        "max_retries": str(int(max_retries)),
        "retry_timeout": _duration(retry_timeout_s),
    }
    if endpoint_url is not None:
        options["AWS_ENDPOINT_URL"] = endpoint_url.rstrip("/")
        if endpoint_url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if access_key_id is not None and secret_access_key is not None:
        options["AWS_ACCESS_KEY_ID"] = access_key_id
        options["AWS_SECRET_ACCESS_KEY"] = secret_access_key
        if session_token:
            options["AWS_SESSION_TOKEN"] = session_token
    for key, value in (extra or {}).items():
        if key.lower() in _FORBIDDEN:
            raise SourceConfigError(
                f"delta storage options: {key!r} is not allowed; concurrent commits rely on "
                "conditional put (aws_conditional_put=etag), which this builder sets"
            )
        if key.lower() in ("aws_conditional_put", "conditional_put") and str(value) != "etag":
            raise SourceConfigError(
                f"delta storage options: {key}={value!r} would disable the conditional-put commit "
                "that keeps concurrent writers from overwriting each other; leave it to the builder"
            )
        options[key] = str(value)
    return options


def _duration(seconds: float) -> str:
    """object_store durations are humantime strings; milliseconds keep sub-second values."""
    return f"{max(1, round(seconds * 1000))}ms"
