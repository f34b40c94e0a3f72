"""Validation of a bronze table at s3://bucket/path on the loopback S3 server (object-store read path)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from connectors.s3.local_server import LocalS3, local_s3_server, unique_bucket
from contracts.enforce import bronze_schema
from contracts.loader import load_contracts
from quality import validate_table

pytestmark = [pytest.mark.network, pytest.mark.slow]
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalS3]:
    # Own process: delta-rs blocks while holding the GIL, which an in-process server thread needs.
    with local_s3_server(separate_process=True) as s3:
        yield s3


def test_new_files_of_an_s3_table_are_read_through_its_storage_options(
    server: LocalS3, tmp_path: Path
) -> None:
    contract = load_contracts()["orders"]
    bucket = unique_bucket("quality")
    server.client().create_bucket(Bucket=bucket)
    options = server.delta_storage_options(timeout_s=10, retry_timeout_s=20, max_retries=3)
    uri = f"s3://{bucket}/lake/bronze/orders"

    def commit(first: int, n: int, manifest: str, **changes: object) -> None:
        rows = [{"order_id": f"ORD-{i:06d}", "customer_id": i, "ordered_at": T0 + timedelta(minutes=i),
                 "amount": 10.0, "currency": "EUR", "status": "paid", "quantity": 1,
                 "_manifest_id": manifest, "_source_uri": "s3://in/x.csv", "_source_row": i,
                 "_ingested_at": T0, "_contract_version": "1.0.0", **changes}
                for i in range(first, first + n)]
        table = pa.Table.from_pylist(rows, schema=bronze_schema(contract))
        write_deltalake(uri, table, mode="append", storage_options=options)

    commit(1, 5, "m1", currency="XXX")
    commit(6, 40, "m2")

    newest = validate_table(contract, uri, storage_options=options, mode="sample", sample_rows=10,
                            results_dir=tmp_path / "_quality" / "orders", build_docs=False)
    full = validate_table(contract, uri, storage_options=options, mode="full",
                          results_dir=tmp_path / "_quality" / "orders", build_docs=False)

    assert newest.success and newest.statistics["rows_in_scope"] == 40
    assert newest.statistics["rows_checked_for_uniqueness"] == 40
    assert newest.statistics["rows_validated"] < 40
    assert not full.success and [f.rule for f in full.error_failed] == ["set:currency"]
