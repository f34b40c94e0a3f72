"""S3Config.from_dict validates everything at once; errors name the field and the problem."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.exceptions import SourceConfigError
from connectors.s3 import CsvOptions, S3Config

BASE: dict[str, Any] = {"name": "orders_s3", "dataset": "orders", "bucket": "acme-raw"}


def test_a_minimal_config_gets_the_documented_defaults() -> None:
    cfg = S3Config.from_dict({**BASE, "prefix": "orders/"})
    assert cfg.uri == "s3://acme-raw/orders/"
    assert (cfg.format, cfg.region, cfg.endpoint_url) == ("auto", "us-east-1", None)
    assert cfg.csv == CsvOptions()
    assert cfg.max_attempts >= 1 and cfg.connect_timeout > 0 and cfg.read_timeout > 0


def test_csv_options_are_read_from_a_nested_mapping() -> None:
    cfg = S3Config.from_dict(
        {
            **BASE,
            "format": "csv",
            "csv": {
                "delimiter": ";",
                "quote": "'",
                "null_values": ["NULL", ""],
                "header": False,
                "column_names": ["a", "b"],
                "encoding": "latin-1",
            },
        }
    )
    assert cfg.csv.delimiter == ";" and cfg.csv.quote == "'"
    assert cfg.csv.null_values == ("NULL", "") and cfg.csv.column_names == ("a", "b")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bucket": "Not_A_Bucket"}, "bucket"),
        ({"prefix": "/orders"}, "prefix"),
        ({"endpoint_url": "localhost:9000"}, "endpoint_url"),
        ({"format": "xlsx"}, "format"),
        ({"addressing_style": "sideways"}, "addressing_style"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"read_timeout": -1}, "read_timeout"),
        ({"versioned": "yes"}, "versioned"),
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter"),
        ({"csv": {"quote": ","}}, "csv.quote"),
        ({"csv": {"encoding": "no-such-codec"}}, "csv.encoding"),
        ({"csv": {"null_values": "NULL"}}, "csv.null_values"),
        ({"csv": {"column_names": ["a", "a"]}}, "csv.column_names"),
        ({"csv": {"sep": ";"}}, "csv.sep"),
        ({"bucket_name": "x"}, "bucket_name"),
    ],
)
def test_an_invalid_field_is_named_in_the_error(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceConfigError) as info:
        S3Config.from_dict({**BASE, **overrides})
    assert f"'{field}'" in str(info.value)
    assert "orders_s3" in str(info.value)


@pytest.mark.parametrize("missing", ["name", "dataset", "bucket"])
def test_a_missing_required_field_is_named(missing: str) -> None:
    data = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SourceConfigError, match=f"'{missing}'.*required"):
        S3Config.from_dict(data)


@pytest.mark.parametrize("secret", ["aws_secret_access_key", "AWS_ACCESS_KEY_ID", "password"])
def test_credentials_in_config_are_rejected_with_the_default_chain_named(secret: str) -> None:
    with pytest.raises(SourceConfigError, match="never read from configuration") as info:
        S3Config.from_dict({**BASE, secret: "AKIA..."})
    assert "AWS_ACCESS_KEY_ID" in str(info.value)


def test_direct_construction_validates_like_from_dict() -> None:
    with pytest.raises(SourceConfigError, match="'csv.delimiter'"):
        S3Config(**BASE, csv=CsvOptions(delimiter=""))
