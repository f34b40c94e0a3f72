"""The boto3 client an S3 source uses, and the paginated listing of one prefix.

Contract:

- Every call the client makes has a connect timeout, a read timeout and bounded retries
  (botocore ``standard`` mode: exponential backoff with jitter, ``max_attempts`` in total).
- Credentials come from boto3's default chain, resolved when the client is built (at run time,
  never at import); an explicit ``boto3.Session`` may be passed instead (tests, orchestration
  resources that build their own session).
- :func:`list_latest` yields the current version of every object under the prefix, one page at a
  time, so memory is bounded by one page (1,000 keys) plus what the caller keeps. botocore
  exceptions propagate; callers translate them with
  :func:`connectors.s3.exceptions.translate_error`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

    from connectors.s3.config import S3Config


@dataclass(frozen=True)
class Listed:
    """One object as the listing reports it (its current version)."""

    key: str
    etag: str
    size: int
    mtime: datetime
    version_id: str | None = None


def normalize_etag(etag: str | None) -> str:
    """ETags come quoted from S3 (``"abc"``); compare and store them unquoted."""
    return (etag or "").strip().strip('"')


def make_client(config: S3Config, *, session: boto3.Session | None = None) -> Any:
    """Build an S3 client for ``config`` with timeouts and bounded retries on every call."""
    import boto3
    from botocore.config import Config

    session = session or boto3.Session(profile_name=config.profile)
    botocore_config = Config(
        region_name=config.region,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"total_max_attempts": config.max_attempts, "mode": "standard"},
        s3={"addressing_style": config.addressing_style},
        # Many S3-compatible stores reject the CRC checksums botocore sends by default on
        # uploads; this client only reads (responses are still validated when they carry one).
        request_checksum_calculation="when_required",
    )
    return session.client("s3", endpoint_url=config.endpoint_url, config=botocore_config)


def bucket_is_versioned(client: Any, bucket: str) -> bool:
    """True when the bucket has (or had) versioning on, so objects carry version ids.

    Stores without the versioning API (some S3-compatible ones answer NotImplemented) are treated
    as unversioned; set ``versioned`` in the config to skip this call.
    """
    from botocore.exceptions import ClientError

    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NotImplemented", "MethodNotAllowed"):
            return False
        raise
    return status in ("Enabled", "Suspended")


def list_latest(
    client: Any,
    *,
    bucket: str,
    prefix: str,
    versioned: bool,
    start_after: str | None = None,
    page_size: int = 1000,
) -> Iterator[Listed]:
    """Yield the current version of every object under ``prefix`` (keys after ``start_after``).

    Folder placeholders (keys ending in ``/``) are skipped; deleted keys (a delete marker is the
    latest version) do not appear.
    """
    if versioned:
        yield from _list_versions(
            client, bucket=bucket, prefix=prefix, start_after=start_after, page_size=page_size
        )
        return
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    pages = client.get_paginator("list_objects_v2").paginate(
        **kwargs, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            yield Listed(
                key=item["Key"],
                etag=normalize_etag(item.get("ETag")),
                size=int(item.get("Size", 0)),
                mtime=_utc(item["LastModified"]),
            )


def _list_versions(
    client: Any, *, bucket: str, prefix: str, start_after: str | None, page_size: int
) -> Iterator[Listed]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["KeyMarker"] = start_after
    pages = client.get_paginator("list_object_versions").paginate(
        **kwargs, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        for item in page.get("Versions", []):
            if not item.get("IsLatest") or item["Key"].endswith("/"):
                continue
            version = item.get("VersionId")
            yield Listed(
                key=item["Key"],
                etag=normalize_etag(item.get("ETag")),
                size=int(item.get("Size", 0)),
                mtime=_utc(item["LastModified"]),
                # "null" is the id of an object written before versioning was enabled.
                version_id=None if version in (None, "null") else version,
            )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # botocore returns aware datetimes; be strict anyway
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
