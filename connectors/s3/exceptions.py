"""S3 source errors, and the one place that maps boto3/botocore failures onto them.

The connector-wide types (:mod:`connectors.exceptions`) keep their meaning:

- :class:`SourceUnavailableError` (retryable): the endpoint could not be reached, timed out,
  throttled, answered 5xx, or refused the credentials. The object is not at fault, so it is never
  quarantined; the run fails after the client's bounded retries and is tried again later.
- :class:`SourceUnreadableError` (terminal): the object's bytes cannot be read as configured
  (garbage, truncated gzip, archived storage class). It is quarantined whole.
- :class:`SourceConfigError` (terminal): the configuration or the environment is wrong (no such
  bucket, no credentials found by the AWS default chain).

One S3-specific type: :class:`S3ObjectChangedError`. The object version a run was asked to read no
longer exists (overwritten or deleted since discovery). Retrying cannot help and quarantining would
be wrong; the newer version, if any, has its own run key. Orchestration ends such a run without a
commit.
"""

from __future__ import annotations

from typing import Any

from connectors.exceptions import (
    ConnectorError,
    SourceConfigError,
    SourceUnavailableError,
    SourceUnreadableError,
)

__all__ = [
    "ConnectorError",
    "S3ObjectChangedError",
    "SourceConfigError",
    "SourceUnavailableError",
    "SourceUnreadableError",
    "translate_error",
]

# S3 error codes that mean "this exact object version is gone".
_GONE_CODES = frozenset({"PreconditionFailed", "NoSuchKey", "NoSuchVersion", "412", "404"})
# Codes that say the object exists but its bytes cannot be fetched as they are.
_UNREADABLE_CODES = frozenset({"InvalidObjectState"})
_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"}
)


class S3ObjectChangedError(ConnectorError):
    """Terminal, nothing to quarantine: the requested object version no longer exists."""


def translate_error(
    err: Exception, *, source: str, action: str, target: str, endpoint: str
) -> ConnectorError:
    """Map a boto3/botocore exception to the connector error a caller should raise ``from err``.

    Args:
        err: the exception boto3 raised.
        source: the configured source name (every message names it).
        action: what was being done, e.g. ``"list"`` or ``"read"``.
        target: the ``s3://bucket/key`` (or prefix) acted on.
        endpoint: the endpoint URL the client talked to.
    """
    from botocore import exceptions as bex  # lazy: importing botocore costs ~100 ms

    where = f"S3 source {source!r}: cannot {action} {target} at {endpoint}"
    if isinstance(err, bex.ClientError):
        code, status = _code_and_status(err.response)
        if code == "NoSuchBucket":
            return SourceConfigError(
                f"{where}: field 'bucket': the bucket does not exist ({code}); "
                "check the bucket name and the endpoint."
            )
        if code in _GONE_CODES or status in (404, 412):
            return S3ObjectChangedError(
                f"{where}: the object version was overwritten or deleted since discovery "
                f"({code}); the current version is discovered and read by its own run."
            )
        if code in _UNREADABLE_CODES:
            return SourceUnreadableError(
                f"{where}: {code} (archived storage class); restore the object, then re-ingest."
            )
        if code in _AUTH_CODES or status == 403:
            return SourceUnavailableError(
                f"{where}: access refused ({code}); check the AWS credentials found by the default "
                "chain (env vars, profile, instance role) and the bucket policy."
            )
        return SourceUnavailableError(
            f"{where}: the endpoint answered {code} (HTTP {status}); it is retried later."
        )
    if isinstance(err, bex.NoCredentialsError | bex.PartialCredentialsError | bex.ProfileNotFound):
        return SourceConfigError(
            f"{where}: no usable AWS credentials ({err}); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / field 'profile', or use an instance role. "
            "Credentials are never part of the source configuration."
        )
    if isinstance(err, bex.BotoCoreError):
        # Connection refused, timeouts, closed connections, broken response streams: transient.
        return SourceUnavailableError(
            f"{where}: {type(err).__name__}: {err}; the endpoint is unreachable or too slow after "
            "the configured retries (fields 'connect_timeout', 'read_timeout', 'max_attempts')."
        )
    return SourceUnavailableError(f"{where}: {type(err).__name__}: {err}")


def _code_and_status(response: dict[str, Any]) -> tuple[str, int | None]:
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    return str(error.get("Code", "")), meta.get("HTTPStatusCode")
