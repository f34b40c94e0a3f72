"""Fixtures: one real S3 endpoint (moto server on loopback) per session, a fresh bucket per test.

No patched clients: every test talks HTTP to 127.0.0.1 through boto3 or delta-rs, exactly as it
would to AWS or MinIO. moto keeps buckets in process memory, so each test gets its own bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.s3 import S3Source
from connectors.s3.local_server import LocalS3, local_s3_server, unique_bucket


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3]:
    with local_s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_session(s3_server: LocalS3) -> Any:
    """One boto3 session for the whole run: building sessions (loading models) is the slow part."""
    return s3_server.session()


@pytest.fixture(scope="session")
def s3(s3_server: LocalS3) -> Any:
    """A boto3 client for putting fixtures into the server."""
    return s3_server.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_source(s3_server: LocalS3, s3_session: Any, bucket: str) -> Callable[..., S3Source]:
    """Build an S3Source on the test bucket; keyword arguments override config fields."""

    def make(*, ingested: Any = (), **overrides: Any) -> S3Source:
        fields: dict[str, Any] = {
            "name": "s3_test",
            "dataset": "orders",
            "bucket": bucket,
            "prefix": "incoming/",
            "endpoint_url": s3_server.endpoint_url,
            "region": s3_server.region,
            "addressing_style": "path",
            "connect_timeout": 2,
            "read_timeout": 10,
            "max_attempts": 2,
        }
        fields.update(overrides)
        return S3Source.from_dict(fields, ingested=ingested, session=s3_session)

    return make
