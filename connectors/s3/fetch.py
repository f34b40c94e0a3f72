"""Download one object version to a local spool file while hashing it (sha256), in bounded memory.

S3 does not hand out a sha256 of an object for free (the ETag is an MD5 only for single-part,
unencrypted uploads). The manifest needs one, so the bytes are hashed exactly once, while they are
streamed to ``spool_dir``; parsing then reads the spool file, never the network. This lets
orchestration build the manifest (uri, etag, version id, size, sha256) *before* it commits, and a
retried parse never downloads again.

Contract:

- The version read is pinned: by ``VersionId`` when the object has one, else by ``If-Match`` on the
  discovered ETag. If that version is gone, :class:`~connectors.s3.exceptions.S3ObjectChangedError`
  is raised; the manifest can therefore never pair one version's ETag with another's bytes.
- The spool file appears under its final name only when complete (written to ``*.part``, then
  renamed), so a crash leaves no half file that looks whole.
- Network failures, before or during the body stream, raise ``SourceUnavailableError``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

import faults
from connectors.base import SourceObject
from connectors.decode import ReadLimits, content_digest
from connectors.s3.exceptions import SourceUnavailableError, translate_error

CHUNK_BYTES = 1 << 20


class Fetched(NamedTuple):
    """A complete local copy of one object version: ``(path, sha256, size)``."""

    path: Path
    sha256: str
    size: int

    def manifest_object(self, obj: SourceObject, *, limits: ReadLimits | None = None) -> SourceObject:
        """``obj`` completed with the sha256 and byte size measured while fetching, and for a
        compressed object the sha256 of its decoded content (one bounded pass over the spool
        file), so the same data stored plain and gzipped is one input."""
        from dataclasses import replace

        content = content_digest(self.path, label=obj.uri, limits=limits or ReadLimits())
        return replace(obj, sha256=self.sha256, size=self.size, content_sha256=content)


def parse_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


def spool_name(obj: SourceObject) -> str:
    """A stable local file name for one object version, keeping its extension (``.csv.gz``)."""
    digest = hashlib.sha256(f"{obj.uri}\0{obj.etag}\0{obj.version_id}".encode()).hexdigest()[:24]
    base = obj.uri.rsplit("/", 1)[-1]
    suffixes = "".join(Path(base).suffixes[-2:])[:24]
    return f"{digest}{suffixes}"


def fetch_object(
    client: Any, obj: SourceObject, spool_dir: str | os.PathLike[str], *, source: str
) -> Fetched:
    """Stream ``obj`` to ``spool_dir`` while hashing; return where it is, its sha256 and size."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_uri(obj.uri)
    endpoint = client.meta.endpoint_url
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if obj.version_id:
        request["VersionId"] = obj.version_id
    elif obj.etag:
        request["IfMatch"] = f'"{obj.etag}"'
    spool = Path(spool_dir)
    spool.mkdir(parents=True, exist_ok=True)
    final = spool / spool_name(obj)
    part = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        response = client.get_object(**request)
        body = response["Body"]
        try:
            with open(part, "wb") as out:
                while block := body.read(CHUNK_BYTES):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        finally:
            body.close()
    except (BotoCoreError, ClientError) as err:
        part.unlink(missing_ok=True)
        raise translate_error(
            err, source=source, action="read", target=obj.uri, endpoint=endpoint
        ) from err
    except Exception:
        part.unlink(missing_ok=True)
        raise
    expected = response.get("ContentLength")
    if expected is not None and int(expected) != size:
        part.unlink(missing_ok=True)
        raise SourceUnavailableError(
            f"S3 source {source!r}: cannot read {obj.uri} at {endpoint}: the connection ended "
            f"after {size} of {expected} bytes; it is retried later."
        )
    os.replace(part, final)
    faults.point("s3.fetch.after_spool")  # complete spool file, no manifest or commit yet
    return Fetched(final, digest.hexdigest(), size)
