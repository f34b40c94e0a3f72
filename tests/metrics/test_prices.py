"""The price table loads from configuration, documents its defaults and rejects bad fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from metrics.exceptions import MetricsConfigError
from metrics.prices import DEFAULT_PRICES, GB, load_prices, price


@dataclass
class _Use:
    cpu_s: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    requests_get: int | None = None
    requests_put: int | None = None


def test_the_defaults_are_public_list_prices_with_their_sources_cited() -> None:
    table = load_prices()
    assert table.compute.usd_per_vcpu_second == pytest.approx(0.1008 / 2 / 3600)
    assert table.storage.usd_per_gb_month == 0.023
    assert (table.requests.usd_per_1000_put, table.requests.usd_per_1000_get) == (0.005, 0.0004)
    assert table.transfer.usd_per_gb_in == 0
    text = DEFAULT_PRICES.read_text()
    assert "aws.amazon.com/ec2/pricing/on-demand" in text and "aws.amazon.com/s3/pricing" in text


def test_price_turns_each_resource_into_its_component() -> None:
    table = load_prices()
    c = price(_Use(cpu_s=3600, bytes_read=GB, bytes_written=GB, requests_get=1000, requests_put=1000), table)
    assert c.compute_usd == pytest.approx(0.0504)  # one vCPU-hour of an m7i.large
    assert c.storage_usd == pytest.approx(0.023)  # one GB kept for the first month
    assert c.requests_usd == pytest.approx(0.0054)
    assert c.transfer_usd == 0
    assert c.total_usd == pytest.approx(0.0504 + 0.023 + 0.0054)
    assert c.requests_known
    assert not price(_Use(cpu_s=1), table).requests_known


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(DEFAULT_PRICES.read_text())
    mutate(raw)
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_negative_price_is_rejected_naming_the_file_and_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda r: r["storage"].update(usd_per_gb_month=-1))
    with pytest.raises(MetricsConfigError) as err:
        load_prices(path)
    assert str(path) in str(err.value) and "storage.usd_per_gb_month" in str(err.value)


def test_a_misspelt_or_missing_field_is_rejected(tmp_path: Path) -> None:
    typo = _write(tmp_path, lambda r: r["compute"].update(vpcus=2))
    with pytest.raises(MetricsConfigError, match=r"compute\.vpcus"):
        load_prices(typo)
    missing = _write(tmp_path, lambda r: r["requests"].pop("usd_per_1000_get"))
    with pytest.raises(MetricsConfigError, match=r"requests\.usd_per_1000_get"):
        load_prices(missing)


def test_a_missing_or_unparsable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(MetricsConfigError, match="does not exist"):
        load_prices(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("compute: [unclosed\n")
    with pytest.raises(MetricsConfigError, match="not valid YAML"):
        load_prices(bad)
