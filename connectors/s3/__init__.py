"""S3 source: new or changed objects under a bucket prefix of any S3-compatible endpoint.

Public surface (see ``connectors/s3/README.md`` for configuration, production settings and the
exactly-once argument):

- :class:`S3Source`, :class:`S3Config`, :class:`CsvOptions`: discover, fetch (spool + sha256), read.
- :func:`pending`, :func:`run_key`, :func:`ingested_pair`, :func:`ingested_from_manifests`: the
  pure state functions the sensor and the ingest use.
- :func:`delta_storage_options`: delta-rs options for Delta tables on S3 (conditional-put commits).
- :class:`S3ObjectChangedError`: the requested object version no longer exists.

The local moto server for tests and the demo lives in :mod:`connectors.s3.local_server` and is not
imported here (moto is a development dependency). Nothing here imports dagster; boto3 and pyarrow
are imported lazily.
"""

from connectors.s3.config import CsvOptions, S3Config
from connectors.s3.exceptions import S3ObjectChangedError
from connectors.s3.fetch import Fetched
from connectors.s3.source import S3Source
from connectors.s3.state import (
    IngestedPair,
    ingested_from_manifests,
    ingested_pair,
    pending,
    run_key,
)
from connectors.s3.storage import delta_storage_options

__all__ = [
    "CsvOptions",
    "Fetched",
    "IngestedPair",
    "S3Config",
    "S3ObjectChangedError",
    "S3Source",
    "delta_storage_options",
    "ingested_from_manifests",
    "ingested_pair",
    "pending",
    "run_key",
]
