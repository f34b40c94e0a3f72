"""A corrected re-delivery: bronze keeps every version, the current state one row per key."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.run import ingest_dataset, lake_for

HEADER = "order_id,customer_id,ordered_at,amount,currency,status,quantity\n"


def _export(folder: Path, name: str, rows: dict[int, str]) -> None:
    path = folder / name
    path.write_text(HEADER + "".join(
        f"ORD-{100000 + i:06d},{1000 + i},2026-11-01T00:{i % 60:02d}:00Z,{10 + i}.00,EUR,{status},1\n"
        for i, status in rows.items()
    ))
    old = time.time() - 60
    os.utime(path, (old, old))


def test_a_corrected_redelivery_leaves_one_row_per_key_in_the_current_state(tmp_path: Path) -> None:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    folder = tmp_path / "drop"
    folder.mkdir()
    spec = SourceSpec("drop", "file_drop", "orders", {"folder": str(folder), "settle_seconds": 1})
    contract = load_contracts()["orders"]
    first = dict.fromkeys(range(1, 201), "placed")
    _export(folder, "orders_full.csv", first)
    ingest_dataset(settings, contract, [spec])

    # The partner re-delivers the full file under the same name: 10 orders moved on, one added.
    corrected = {**first, **dict.fromkeys(range(1, 11), "shipped"), 201: "paid"}
    _export(folder, "orders_full.csv", corrected)
    report = ingest_dataset(settings, contract, [spec])
    assert [r.status for r in report.results] == ["committed"]

    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 200 + 201
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        assert con.execute("select count(*) from bronze.orders").fetchone()[0] == 401
        assert con.execute("select count(*), count(distinct order_id) from current.orders").fetchone() == (
            201,
            201,
        )
        current = dict(con.execute("select cast(substr(order_id, 5) as int) - 100000, status "
                                   "from current.orders").fetchall())
    assert current == corrected
    assert sum(1 for s in current.values() if s == "shipped") == 10


def test_datasets_without_a_primary_key_have_no_current_state(tmp_path: Path) -> None:
    from contracts.current import current_state_sql

    contract = load_contracts()["orders"].model_copy(update={"primary_key": []})
    assert current_state_sql(contract, "bronze.orders") is None
