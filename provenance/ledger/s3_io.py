"""S3 plumbing of the ledger's object-store backend: locations, the client, calls and their errors.

Contract:

- `parse_location("s3://bucket/prefix")` splits a ledger location; the prefix may be empty.
- `make_client` builds a boto3 S3 client from the AWS default chain (credentials, region,
  `AWS_ENDPOINT_URL`), resolved when the ledger is opened, never at import. Every call has a
  connect and a read timeout and a bounded number of attempts (botocore "standard" retries:
  exponential backoff with jitter on throttling, 5xx and connection errors).
- `S3Objects` makes the few calls the store needs and turns botocore errors into provenance
  errors that name the bucket and key: bad location, missing bucket, refused credentials and a
  store without conditional writes are `LedgerConfigError` (terminal); throttling, 5xx and
  network failures left after the retries are `LedgerUnavailableError` (retryable); anything
  else is `LedgerStorageError`. A missing object is `None`, not an error: the caller decides
  whether that means "not yet" or "deleted".
- `put_new` is a conditional put (`If-None-Match: *`): it creates the object or reports that the
  key exists; it never overwrites.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from provenance.exceptions import LedgerBusyError, LedgerConfigError, LedgerStorageError

__all__ = [
    "LedgerUnavailableError",
    "S3Location",
    "S3Objects",
    "make_client",
    "parse_location",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
        "OperationAborted",
    }
)


class LedgerUnavailableError(LedgerBusyError):
    """The object store did not answer usefully within the retry budget (network, throttling,
    5xx); the same call may succeed later."""


@dataclass(frozen=True)
class S3Location:
    """A ledger's place in a bucket: every key it owns starts with `prefix/`."""

    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        """The object key of `name` (relative to the ledger)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_location(text: str) -> S3Location:
    """Split `s3://bucket[/prefix]`; raise LedgerConfigError on anything else."""
    if not text.startswith("s3://"):
        raise LedgerConfigError(f"ledger location {text!r} is not an s3://bucket/prefix URI")
    bucket, _, prefix = text[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.fullmatch(bucket):
        raise LedgerConfigError(
            f"ledger location {text!r}: {bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens)"
        )
    if "//" in prefix or any(part in (".", "..") for part in prefix.split("/")):
        raise LedgerConfigError(
            f"ledger location {text!r}: the prefix must not contain empty, '.' or '..' parts"
        )
    return S3Location(bucket, prefix)


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    max_attempts: int = 5,
    max_connections: int = 16,
) -> Any:
    """An S3 client with timeouts and bounded retries; credentials from the AWS default chain."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=max_connections,
    )
    return boto3.Session().client("s3", endpoint_url=endpoint_url, config=config)


class S3Objects:
    """The object calls of one ledger location, with errors translated."""

    def __init__(self, client: Any, location: S3Location, *, max_attempts: int = 5) -> None:
        self.client = client
        self.location = location
        self.max_attempts = max_attempts  # also bounds re-reads of a body cut off mid-stream

    def _where(self, key: str | None) -> str:
        bucket = self.location.bucket
        return f"s3://{bucket}/{key}" if key is not None else f"bucket {bucket!r}"

    def error(self, err: Exception, *, action: str, key: str | None) -> Exception:
        """The provenance error for a botocore error raised while doing `action` on `key`."""
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            IncompleteReadError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        where = self._where(key)
        if isinstance(err, ClientError):
            info = err.response.get("Error", {})
            code = str(info.get("Code", ""))
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            detail = f"{code or status}: {info.get('Message', '')}".rstrip(": ")
            if code == "NoSuchBucket":
                return LedgerConfigError(
                    f"cannot {action} {where}: bucket {self.location.bucket!r} does not exist; "
                    "create it or fix the ledger location"
                )
            if code in _AUTH_CODES or status == 403:
                return LedgerConfigError(
                    f"cannot {action} {where}: access refused ({detail}); check the AWS "
                    "credentials, region and the bucket policy"
                )
            if code == "NotImplemented" or status == 501:
                return LedgerConfigError(
                    f"cannot {action} {where}: the object store does not support this request "
                    f"({detail}); the ledger needs conditional writes (If-None-Match), which AWS "
                    "S3, MinIO and R2 support"
                )
            if code in _TRANSIENT_CODES or status in (429, 500, 502, 503, 504):
                return LedgerUnavailableError(
                    f"cannot {action} {where}: the object store is unavailable ({detail}) after "
                    f"{self.max_attempts} attempts; retry later"
                )
            return LedgerStorageError(f"cannot {action} {where}: {detail}")
        if isinstance(err, NoCredentialsError | PartialCredentialsError):
            return LedgerConfigError(
                f"cannot {action} {where}: no usable AWS credentials ({err}); set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance role"
            )
        if isinstance(err, ConnectionError | HTTPClientError | IncompleteReadError):
            return LedgerUnavailableError(
                f"cannot {action} {where}: the object store is unreachable ({err}) after "
                f"{self.max_attempts} attempts; check AWS_ENDPOINT_URL and the network, then retry"
            )
        return LedgerStorageError(f"cannot {action} {where}: {err}")

    @staticmethod
    def _status(err: Exception) -> tuple[str, int]:
        response = getattr(err, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code, int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)

    def get(
        self, key: str, *, byte_range: tuple[int, int] | None = None, action: str = "read"
    ) -> tuple[bytes, dict[str, str]] | None:
        """The object's bytes (or bytes `[start, stop)`) and metadata; None if it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Key": key}
        if byte_range is not None:
            kwargs["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.get_object(**kwargs)
                # botocore retries the request, not a body cut off mid-stream: that is retried here.
                return response["Body"].read(), dict(response.get("Metadata") or {})
            except ClientError as err:
                code, status = self._status(err)
                if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
                    return None
                raise self.error(err, action=action, key=key) from err
            except BotoCoreError as err:
                translated = self.error(err, action=action, key=key)
                if attempt == self.max_attempts or not isinstance(translated, LedgerBusyError):
                    raise translated from err
        raise AssertionError("unreachable")  # the loop returns or raises

    def head(self, key: str, *, action: str = "inspect") -> dict[str, str] | None:
        """The object's metadata, or None if it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.head_object(Bucket=self.location.bucket, Key=key)
        except ClientError as err:
            if self._status(err)[1] == 404:
                return None
            raise self.error(err, action=action, key=key) from err
        except BotoCoreError as err:
            raise self.error(err, action=action, key=key) from err
        return dict(response.get("Metadata") or {})

    def put_new(
        self, key: str, body: bytes, *, metadata: Mapping[str, str], action: str = "write"
    ) -> bool:
        """Create the object unless the key exists (conditional put); True if this call created it.

        False also covers `409 ConditionalRequestConflict`, which S3 answers while another
        conditional write of the same key is in flight: the caller treats both as "taken" and
        finds out who won by reading the key.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ContentType="application/octet-stream",
                Metadata=dict(metadata),
            )
        except ClientError as err:
            code, status = self._status(err)
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return False
            raise self.error(err, action=action, key=key) from err
        except BotoCoreError as err:
            raise self.error(err, action=action, key=key) from err
        return True

    def list(self, folder: str, *, start_after: str | None = None) -> Iterator[str]:
        """Keys under `<prefix>/<folder>/` in lexicographic order, after `start_after` if given."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.location.key(folder) + "/"
        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except ClientError as err:
            raise self.error(err, action="list", key=prefix) from err
        except BotoCoreError as err:
            raise self.error(err, action="list", key=prefix) from err

    def any_key(self) -> str | None:
        """One key under the ledger's prefix, or None if there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.location.key("")
        try:
            page = self.client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=prefix, MaxKeys=1
            )
        except (ClientError, BotoCoreError) as err:
            raise self.error(err, action="list", key=prefix) from err
        contents = page.get("Contents") or []
        return str(contents[0]["Key"]) if contents else None
