"""delta_storage_options(): safe commit options for Delta tables on S3, nothing unsafe allowed."""

from __future__ import annotations

import pytest

from connectors.exceptions import SourceConfigError
from connectors.s3 import delta_storage_options


def test_a_local_http_endpoint_gets_conditional_put_http_timeouts_and_retries() -> None:
    opts = delta_storage_options(
        "http://127.0.0.1:9000", "eu-west-1", access_key_id="k", secret_access_key="s"
    )
    assert opts["aws_conditional_put"] == "etag"
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert opts["AWS_ALLOW_HTTP"] == "true"
    assert opts["AWS_REGION"] == "eu-west-1"
    assert (opts["AWS_ACCESS_KEY_ID"], opts["AWS_SECRET_ACCESS_KEY"]) == ("k", "s")
    assert {"connect_timeout", "timeout", "max_retries", "retry_timeout"} <= set(opts)
    assert not {k.upper() for k in opts} & {"AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_S3_LOCKING_PROVIDER"}


def test_aws_without_credentials_leaves_them_to_the_default_chain() -> None:
    opts = delta_storage_options(None, "us-east-1")
    assert "AWS_ENDPOINT_URL" not in opts and "AWS_ALLOW_HTTP" not in opts
    assert "AWS_ACCESS_KEY_ID" not in opts and "AWS_SECRET_ACCESS_KEY" not in opts


@pytest.mark.parametrize(
    "extra",
    [
        {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"},
        {"AWS_S3_LOCKING_PROVIDER": "dynamodb"},
        {"aws_conditional_put": "disabled"},
    ],
)
def test_options_that_break_concurrent_commits_are_refused(extra: dict[str, str]) -> None:
    with pytest.raises(SourceConfigError, match=next(iter(extra))):
        delta_storage_options("http://127.0.0.1:9000", "us-east-1", extra=extra)


def test_half_a_credential_pair_is_refused() -> None:
    with pytest.raises(SourceConfigError, match="both access_key_id and secret_access_key"):
        delta_storage_options(None, "us-east-1", access_key_id="k")
