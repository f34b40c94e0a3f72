"""Idempotent streaming appends to real Delta tables."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lake.delta import Lake, append_idempotent, ensure_table, table_facts
from tests.lake._concurrent_worker import SCHEMA, append_same_input


def _batch(values: list[int]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values)], schema=SCHEMA)


def test_the_same_app_id_commits_once_and_reports_the_earlier_commit(tmp_path: Path) -> None:
    uri = Lake(root=str(tmp_path)).table_uri("bronze", "t")
    first = append_idempotent(
        uri, [_batch([1, 2, 3])], schema=SCHEMA, app_id="a", metadata={"maestro.k": "v"}
    )
    again = append_idempotent(uri, [_batch([1, 2, 3])], schema=SCHEMA, app_id="a")
    other = append_idempotent(uri, [_batch([4])], schema=SCHEMA, app_id="b")
    assert (first.committed, again.committed, other.committed) == (True, False, True)
    assert again.version == first.version and again.metadata["maestro.k"] == "v"
    assert table_facts(uri)["rows"] == 4
    assert DeltaTable(uri).transaction_version("a") == 1


def test_a_producer_that_fails_midway_commits_nothing_and_its_own_error_surfaces(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")

    class SourceBroke(Exception):
        pass

    def batches():  # noqa: ANN202
        yield _batch([1, 2])
        raise SourceBroke("input.csv: byte 4096 is not UTF-8")

    with pytest.raises(SourceBroke, match="not UTF-8"):
        append_idempotent(uri, batches(), schema=SCHEMA, app_id="a")
    assert table_facts(uri)["rows"] == 0
    assert DeltaTable(uri).transaction_version("a") is None
    # The retry (the producer fixed) commits normally.
    assert append_idempotent(uri, [_batch([1, 2])], schema=SCHEMA, app_id="a").committed


def test_an_additive_schema_change_merges_a_new_nullable_column(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    append_idempotent(uri, [_batch([1])], schema=SCHEMA, app_id="v1")
    wider = pa.schema([("x", pa.int64()), ("note", pa.large_string())])
    batch = pa.record_batch([pa.array([2]), pa.array(["new"], type=pa.large_string())], schema=wider)
    append_idempotent(uri, [batch], schema=wider, app_id="v2")
    rows = sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda r: r["x"])
    assert rows == [{"x": 1, "note": None}, {"x": 2, "note": "new"}]


def test_two_processes_committing_the_same_input_at_once_commit_it_exactly_once(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    ensure_table(uri, SCHEMA, name="t")
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            results = [pool.apply_async(append_same_input, (uri, barrier)) for _ in range(2)]
            committed = sorted(r.get(timeout=120) for r in results)
    assert committed == [False, True]
    assert table_facts(uri)["rows"] == 1000
