"""translate_error(): every botocore failure maps to the connector error orchestration acts on."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, ReadTimeoutError

from connectors.exceptions import (
    ConnectorError,
    SourceConfigError,
    SourceUnavailableError,
    SourceUnreadableError,
)
from connectors.s3 import S3Config, S3ObjectChangedError, S3Source
from connectors.s3.exceptions import translate_error

ENDPOINT = "http://127.0.0.1:9"
TARGET = "s3://acme-raw/orders/a.csv"


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (client_error("SlowDown", 503), SourceUnavailableError),
        (client_error("InternalError", 500), SourceUnavailableError),
        (client_error("AccessDenied", 403), SourceUnavailableError),
        (client_error("NoSuchBucket", 404), SourceConfigError),
        (client_error("NoSuchKey", 404), S3ObjectChangedError),
        (client_error("PreconditionFailed", 412), S3ObjectChangedError),
        (client_error("InvalidObjectState", 403), SourceUnreadableError),
        (NoCredentialsError(), SourceConfigError),
        (ReadTimeoutError(endpoint_url=ENDPOINT), SourceUnavailableError),
    ],
    ids=lambda v: (
        type(v).__name__ if not isinstance(v, ClientError) else v.response["Error"]["Code"]
    ),
)
def test_each_failure_maps_to_its_connector_error_naming_source_target_and_endpoint(
    err: Exception, expected: type[ConnectorError]
) -> None:
    translated = translate_error(
        err, source="orders_s3", action="read", target=TARGET, endpoint=ENDPOINT
    )

    assert type(translated) is expected
    assert (
        "orders_s3" in str(translated) and TARGET in str(translated) and ENDPOINT in str(translated)
    )


def test_missing_credentials_say_where_credentials_come_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An empty default chain: no env keys, empty config files, no instance metadata lookups.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    config = S3Config(
        name="orders_s3", dataset="orders", bucket="acme-raw", endpoint_url=ENDPOINT, max_attempts=1
    )

    with pytest.raises(SourceConfigError, match="AWS_ACCESS_KEY_ID"):
        S3Source(config).discover()
