"""The DuckDB analyst catalog: tables by name, counts equal to Delta, incremental refresh."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lake.catalog import catalog_tables, publish_table
from lake.delta import append_idempotent
from lake.exceptions import CatalogError

SCHEMA = pa.schema([("x", pa.int64()), ("label", pa.large_string())])


def _append(uri: str, n: int, app: str) -> None:
    batch = pa.record_batch(
        [pa.array(range(n)), pa.array([f"r{i}" for i in range(n)], type=pa.large_string())], schema=SCHEMA
    )
    append_idempotent(uri, [batch], schema=SCHEMA, app_id=app)


def test_a_published_table_is_queryable_by_name_and_refreshes_only_when_delta_moves(tmp_path: Path) -> None:
    uri, db = str(tmp_path / "lake" / "bronze" / "t"), tmp_path / "catalog.duckdb"
    _append(uri, 5, "a")
    first = publish_table(db, "bronze", "t", uri)
    same = publish_table(db, "bronze", "t", uri)
    _append(uri, 3, "b")
    moved = publish_table(db, "bronze", "t", uri)
    assert (first["refreshed"], same["refreshed"], moved["refreshed"]) == (True, False, True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*), max(label) from bronze.t").fetchone() == (8, "r4")
    finally:
        con.close()
    assert catalog_tables(db) == [{"table": "bronze.t", "type": "base table", "rows": 8}]


def test_publishing_a_missing_table_names_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no Delta table at"):
        publish_table(tmp_path / "c.duckdb", "bronze", "nope", str(tmp_path / "nope"))
