"""Dataset and job names follow the OpenLineage naming conventions and never carry secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake.delta import Lake
from provenance.lineage.naming import (
    DatasetRef,
    asset_job_name,
    dataset_for_uri,
    dbt_job_name,
    delta_table_dataset,
    duckdb_dataset,
    file_dataset,
    ingest_job_name,
    parse_dataset,
    safe_uri,
)


def test_a_local_file_is_in_namespace_file_named_by_its_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "in" / "orders 1.csv"
    expected = DatasetRef("file", str(path))
    assert file_dataset(path) == expected
    assert dataset_for_uri(path.as_uri()) == expected  # percent-encoded file:// URIs too
    assert expected.uri == "file://" + str(path)


def test_an_s3_object_is_in_its_bucket_namespace_named_by_its_key() -> None:
    assert dataset_for_uri("s3://acme-raw/orders/2026/11/01.csv") == DatasetRef(
        "s3://acme-raw", "orders/2026/11/01.csv"
    )


def test_delta_tables_are_named_from_their_storage_location(tmp_path: Path) -> None:
    local = Lake(root=str(tmp_path / "lake"))
    assert delta_table_dataset(local.table_uri("bronze", "orders") + "/") == DatasetRef(
        "file", str(tmp_path / "lake" / "bronze" / "orders")
    )
    remote = Lake(root="s3://acme-lake/prod")
    assert delta_table_dataset(remote.table_uri("bronze", "orders")) == DatasetRef(
        "s3://acme-lake", "prod/bronze/orders"
    )


def test_http_sources_are_named_by_scheme_host_port_and_path_without_query_or_credentials() -> None:
    assert dataset_for_uri("https://user:pw@API.example.com/v1/products?page=2&token=x") == (
        DatasetRef("https://api.example.com:443", "/v1/products")
    )
    assert dataset_for_uri("http://127.0.0.1:8080/feed") == DatasetRef(
        "http://127.0.0.1:8080", "/feed"
    )


def test_duckdb_catalog_tables_are_named_schema_dot_table_under_the_database_file(
    tmp_path: Path,
) -> None:
    ref = duckdb_dataset(tmp_path / "catalog.duckdb", "marts", "customer_revenue")
    assert ref == DatasetRef(f"duckdb://{tmp_path}/catalog.duckdb", "marts.customer_revenue")
    assert parse_dataset(ref.uri) == ref


def test_job_names_say_what_kind_of_work_and_which_dataset() -> None:
    assert ingest_job_name("orders") == "ingest.orders"
    assert dbt_job_name("marts", "customer_revenue") == "dbt.marts.customer_revenue"
    assert asset_job_name("catalog") == "asset.catalog"
    with pytest.raises(ValueError, match="empty job name part"):
        ingest_job_name("///")


def test_parse_dataset_takes_a_name_in_an_explicit_namespace_as_is() -> None:
    assert parse_dataset("bronze.orders", namespace="duckdb:///x.duckdb") == DatasetRef(
        "duckdb:///x.duckdb", "bronze.orders"
    )
    with pytest.raises(ValueError, match="duckdb://<db file path>"):
        parse_dataset("duckdb://catalog.duckdb")


def test_safe_uri_drops_user_info_and_secret_query_values_but_keeps_the_rest() -> None:
    uri = "https://u:secret@host/x?page=2&api_key=abc&X-Amz-Signature=f00&sig=1"
    cleaned = safe_uri(uri)
    assert "secret" not in cleaned and "abc" not in cleaned and "f00" not in cleaned
    assert cleaned.startswith("https://host/x?page=2&")
    assert safe_uri("/plain/path.csv") == "/plain/path.csv"
