"""``S3Source``: one dataset fed by the objects under one prefix of an S3-compatible bucket.

Contract (beyond :class:`connectors.base.Source`):

- :meth:`S3Source.discover` lists the prefix (paginated) and returns the object versions not yet
  ingested, oldest first. Each is a :class:`~connectors.base.SourceObject` with ``uri``
  (``s3://bucket/key``), ``etag`` (unquoted), ``version_id`` (versioned buckets), ``size`` and
  ``mtime`` (UTC). Its ``sha256`` is ``""`` until the object is fetched: S3 does not provide one.
- What counts as ingested comes from the ``ingested`` argument: a set of ``(uri, etag)`` pairs or a
  callable returning one, evaluated at every ``discover`` (orchestration passes a function that
  reads the manifests in the lake's commits). The source keeps no state of its own.
- :meth:`S3Source.fetch` downloads one pinned version to a spool directory while hashing it and
  returns ``(path, sha256, size)``; :meth:`S3Source.read_spool` parses that file. Orchestration
  builds the manifest between the two, before anything is committed. :meth:`S3Source.read` does
  both with a temporary spool directory.
- Errors: ``SourceUnavailableError`` (retry), ``SourceUnreadableError`` (quarantine the object),
  ``SourceConfigError`` (fix config/environment), ``S3ObjectChangedError`` (end the run; the newer
  version has its own run key).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject
from connectors.s3.client import bucket_is_versioned, list_latest, make_client
from connectors.s3.config import S3Config
from connectors.s3.exceptions import translate_error
from connectors.s3.fetch import Fetched, fetch_object
from connectors.s3.reader import read_spool
from connectors.s3.state import IngestedPair, pending

if TYPE_CHECKING:
    import boto3
    import pyarrow as pa

Ingested = Iterable[IngestedPair] | Callable[[], Iterable[IngestedPair]]


class S3Source(Source):
    """Discover and read new or changed objects under ``s3://bucket/prefix``.

    >>> src = S3Source(S3Config(name="orders_s3", dataset="orders", bucket="acme-raw",
    ...                         prefix="orders/"), ingested=set())
    >>> src.kind, src.dataset
    ('s3', 'orders')
    """

    kind: ClassVar[str] = "s3"

    def __init__(
        self,
        config: S3Config,
        *,
        ingested: Ingested = (),
        session: boto3.Session | None = None,
    ) -> None:
        super().__init__(name=config.name, dataset=config.dataset)
        self.config = config
        self._ingested = ingested
        self._session = session
        self._client: Any = None

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        ingested: Ingested = (),
        session: boto3.Session | None = None,
    ) -> S3Source:
        """Validate ``data`` (see :class:`S3Config`) and build the source."""
        return cls(S3Config.from_dict(data), ingested=ingested, session=session)

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use (credentials resolved at run time)."""
        if self._client is None:
            try:
                self._client = make_client(self.config, session=self._session)
            except Exception as err:  # profile not found, bad region: environment problems
                raise translate_error(
                    err,
                    source=self.name,
                    action="connect to",
                    target=self.config.uri,
                    endpoint=self._endpoint(),
                ) from err
        return self._client

    def list_objects(self, *, start_after: str | None = None) -> list[SourceObject]:
        """Every object under the prefix (current versions), oldest first, ingested or not."""
        from botocore.exceptions import BotoCoreError, ClientError

        cfg = self.config
        try:
            versioned = cfg.versioned
            if versioned is None:
                versioned = bucket_is_versioned(self.client, cfg.bucket)
            listed = list(
                list_latest(
                    self.client,
                    bucket=cfg.bucket,
                    prefix=cfg.prefix,
                    versioned=versioned,
                    start_after=start_after,
                )
            )
        except (BotoCoreError, ClientError) as err:
            raise translate_error(
                err, source=self.name, action="list", target=cfg.uri, endpoint=self._endpoint()
            ) from err
        objects = [
            SourceObject(
                uri=f"s3://{cfg.bucket}/{item.key}",
                sha256="",  # unknown until fetched; see fetch()
                size=item.size,
                etag=item.etag,
                version_id=item.version_id,
                mtime=item.mtime,
            )
            for item in listed
        ]
        return pending(objects, ())  # sorts oldest first, drops duplicate versions

    def discover(self, *, start_after: str | None = None) -> list[SourceObject]:
        """Object versions under the prefix not yet ingested, oldest first.

        Args:
            start_after: list only keys after this one (an optional sensor-cursor optimisation,
                correct only when new keys sort after old ones, e.g. date-stamped names).
        """
        ingested = self._ingested() if callable(self._ingested) else self._ingested
        return pending(self.list_objects(start_after=start_after), ingested)

    def fetch(self, obj: SourceObject, spool_dir: str | os.PathLike[str]) -> Fetched:
        """Download ``obj`` (its discovered version) into ``spool_dir``, hashing on the way.

        Returns ``Fetched(path, sha256, size)``; ``fetched.manifest_object(obj)`` is the entry the
        manifest records.
        """
        return fetch_object(self.client, obj, spool_dir, source=self.name)

    def read_spool(
        self,
        obj: SourceObject,
        path: str | os.PathLike[str],
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Parse the fetched copy of ``obj`` as record batches of at most ``batch_rows`` rows."""
        return read_spool(
            path,
            uri=obj.uri,
            source=self.name,
            format=self.config.format,
            csv=self.config.csv,
            batch_rows=batch_rows,
            limits=self.config.limits,
        )

    def read(
        self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Fetch into a temporary spool directory, stream the batches, then delete the copy."""
        with tempfile.TemporaryDirectory(prefix="s3-spool-") as spool:
            fetched = self.fetch(obj, spool)
            yield from self.read_spool(obj, Path(fetched.path), batch_rows=batch_rows)

    def _endpoint(self) -> str:
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return self.config.endpoint_url or f"AWS S3 ({self.config.region})"
