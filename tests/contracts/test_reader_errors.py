"""Rows a reader could not read (reserved columns of connectors/base.py) end in quarantine, whole.

The batches are built by hand, as the readers will yield them: ``_maestro_error`` holds the reason
code, ``_maestro_raw`` the row's original bytes, ``_maestro_line`` its physical line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from connectors.base import Source, SourceObject
from contracts.enforce import quarantine_schema
from contracts.exceptions import SchemaMismatchError
from lake.delta import Lake, append_idempotent
from pipeline.checks import evaluate_checks
from pipeline.ingest import ingest_object
from tests.contracts.helpers import make_contract, run, text_batch

KEYED = make_contract(
    [
        {"name": "id", "type": "int64", "nullable": False},
        {"name": "name", "type": "string", "nullable": False},
    ],
    primary_key=["id"],
)


def reader_batch(
    ids: list[str | None],
    names: list[str | None],
    errors: list[str | None],
    *,
    lines: list[int] | None = None,
) -> pa.RecordBatch:
    raw = [
        None if e is None else f"{i},{n},extra\n".encode() for i, n, e in zip(ids, names, errors, strict=True)
    ]
    typed = {
        "_maestro_error": pa.array(errors, pa.string()),
        "_maestro_raw": pa.array(raw, pa.large_binary()),
    }
    if lines is not None:
        typed["_maestro_line"] = pa.array(lines, pa.int64())
    return text_batch({"id": ids, "name": names}, **typed)


def test_an_unreadable_row_is_quarantined_with_its_code_alone_its_bytes_and_its_line() -> None:
    batch = reader_batch(
        ["1", None, "2", "1", "x"],
        ["a", None, "b", "a", "c"],
        [None, "ragged_row", None, None, None],
        lines=[2, 3, 5, 6, 7],
    )
    valid, rejected, enf = run(KEYED, [batch])
    assert [r["_source_row"] for r in valid] == [1, 3]
    assert "_maestro_error" not in valid[0] and "_maestro_raw" not in valid[0]
    unread, typed = rejected
    # Its recovered columns would fail not_null too: the reader's code is the row's only reason.
    assert unread["_reasons"] == ["ragged_row"]
    assert unread["_errors"] == (
        "row could not be read (ragged_row): the row has a different number of fields than the header"
    )
    assert (unread["_raw"], unread["_source_line"], unread["_source_row"]) == (b"None,None,extra\n", 3, 2)
    # A row the contract rejects keeps its line, and has no raw bytes (its columns are the original).
    assert typed["_reasons"] == ["type:id"] and typed["_raw"] is None and typed["_source_line"] == 7
    assert (enf.counts.read, enf.counts.valid, enf.counts.rejected, enf.counts.duplicates) == (5, 2, 2, 1)
    assert enf.counts.reasons == {"ragged_row": 1, "type:id": 1}


def test_an_unreadable_row_claims_no_key_so_a_later_good_row_with_that_key_is_kept() -> None:
    batches = [
        reader_batch(["1"], ["broken"], ["encoding"]),
        reader_batch(["1", "1"], ["a", "b"], [None, None]),
    ]
    valid, rejected, _ = run(KEYED, batches)
    assert [(r["_source_row"], r["name"]) for r in valid] == [(2, "a")]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [
        (1, ["encoding"]),
        (3, ["duplicate_key"]),
    ]
    assert "row 2 of this input" in rejected[1]["_errors"]


def test_unique_values_of_unreadable_rows_are_not_claimed() -> None:
    contract = make_contract([{"name": "email", "type": "string", "constraints": {"unique": True}}])
    batch = text_batch(
        {"email": ["a@x", "a@x"]},
        _maestro_error=pa.array(["nul_bytes", None]),
        _maestro_raw=pa.array([b"a@x\x00", None], pa.large_binary()),
    )
    valid, rejected, _ = run(contract, [batch])
    assert [r["_source_row"] for r in valid] == [2]
    assert rejected[0]["_reasons"] == ["nul_bytes"] and rejected[0]["_raw"] == b"a@x\x00"


def test_reserved_columns_are_not_extra_columns_and_may_come_and_go_between_batches() -> None:
    assert KEYED.extra_columns == "reject"
    batches = [
        text_batch({"id": ["1"], "name": ["a"]}),
        reader_batch(["2", None], ["b", None], [None, "line_too_long"]),
        text_batch({"id": ["3"], "name": ["c"]}),
        reader_batch(["4"], ["d"], [None], lines=[9]),
    ]
    valid, rejected, enf = run(KEYED, batches)
    assert [r["_source_row"] for r in valid] == [1, 2, 4, 5]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [(3, ["line_too_long"])]
    assert enf.counts.reconciles
    # A real extra column arriving mid-input still rejects the input.
    with pytest.raises(SchemaMismatchError, match="not in contract.*'surprise'"):
        run(KEYED, [batches[0], text_batch({"id": ["2"], "name": ["b"], "surprise": ["!"]})])


def test_reserved_columns_of_any_type_or_content_are_read_defensively() -> None:
    """A typed input (a Parquet file with such columns) may bring anything under these names."""
    batch = text_batch(
        {"id": ["1", "2", "3", "4"], "name": ["a", "b", "c", "d"]},
        _maestro_error=pa.array([None, "Ragged Row!", "x" * 100_000, "json_depth"]),
        _maestro_raw=pa.array([None, 7, 8, 9], pa.int64()),
        _maestro_line=pa.array(["1", "2", "3", "4"]),
    )
    valid, rejected, enf = run(KEYED, [batch])
    assert [r["_source_row"] for r in valid] == [1]
    assert [r["_reasons"] for r in rejected] == [["unreadable_row"], ["unreadable_row"], ["json_depth"]]
    assert all(r["_raw"] is None and r["_source_line"] is None for r in rejected)
    assert set(enf.counts.reasons) == {"unreadable_row", "json_depth"}
    typed_error = text_batch({"id": ["1", "2"], "name": ["a", "b"]}, _maestro_error=pa.array([None, 3]))
    valid, rejected, _ = run(KEYED, [typed_error])
    assert [r["_reasons"] for r in rejected] == [["unreadable_row"]]
    with pytest.raises(SchemaMismatchError, match="more than once: '_maestro_error'"):
        run(
            KEYED,
            [
                pa.RecordBatch.from_arrays(
                    [
                        pa.array(["1"]),
                        pa.array(["a"]),
                        pa.array([None], pa.string()),
                        pa.array([None], pa.string()),
                    ],
                    names=["id", "name", "_maestro_error", "_maestro_error"],
                )
            ],
        )


class _Batches(Source):
    """A source whose input is a list of record batches (what a reader yields)."""

    kind = "csv"

    def __init__(self, batches: list[pa.RecordBatch]) -> None:
        super().__init__(name="hand", dataset="t")
        self.batches = batches

    def discover(self) -> list[SourceObject]:
        return []

    def read(self, obj: SourceObject, *, batch_rows: int = 0) -> Iterator[pa.RecordBatch]:
        yield from self.batches


def test_an_old_quarantine_table_gains_the_raw_and_line_columns_on_its_next_append(tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    contract = KEYED
    # A quarantine table as the platform wrote it before _raw and _source_line existed.
    old_schema = pa.schema([f for f in quarantine_schema(contract) if f.name not in ("_raw", "_source_line")])
    old_row = {f.name: None for f in old_schema} | {"id": "x", "_reasons": ["type:id"], "_source_row": 1}
    q_uri = lake.table_uri("quarantine", contract.name)
    append_idempotent(
        q_uri, [pa.RecordBatch.from_pylist([old_row], schema=old_schema)], schema=old_schema, app_id="before"
    )
    assert "_raw" not in DeltaTable(q_uri).schema().to_arrow().names

    batches = [
        reader_batch(
            ["1", "2", "1", "1"], ["a", None, "a", "z"], [None, "ragged_row", None, None], lines=[2, 3, 4, 5]
        )
    ]
    obj = SourceObject(uri="file:///in.csv", sha256="cd" * 32, size=10)
    result = ingest_object(_Batches(batches), obj, contract, lake)
    assert result.status == "committed", result.error
    assert (result.counts.read, result.counts.valid, result.counts.rejected, result.counts.duplicates) == (
        4,
        1,
        2,
        1,
    )

    rows = DeltaTable(q_uri).to_pyarrow_table().to_pylist()
    by_source_row = {(r["_manifest_id"] is None, r["_source_row"]): r for r in rows}
    assert by_source_row[(True, 1)]["_raw"] is None  # the old row reads with the new columns null
    unread = by_source_row[(False, 2)]
    assert (unread["_reasons"], unread["_raw"], unread["_source_line"]) == (
        ["ragged_row"],
        b"2,None,extra\n",
        3,
    )
    assert by_source_row[(False, 4)]["_reasons"] == ["duplicate_key"]
    bronze = DeltaTable(lake.table_uri("bronze", contract.name))
    assert not {"_maestro_error", "_maestro_raw", "_maestro_line"} & set(bronze.schema().to_arrow().names)
    assert bronze.to_pyarrow_table().column("id").to_pylist() == [1]
    outcomes = {
        o.name: o
        for o in evaluate_checks(
            contract, bronze.table_uri, run_counts={"read": 4, "valid": 1, "rejected": 2, "duplicates": 1}
        )
    }
    assert outcomes["schema_matches_contract"].passed and outcomes["row_accounting"].passed


def test_a_flood_of_distinct_codes_cannot_bloat_the_commit_metadata() -> None:
    codes = [f"code_{i}" for i in range(1000)]
    batch = text_batch(
        {"id": [str(i) for i in range(1000)], "name": ["a"] * 1000}, _maestro_error=pa.array(codes)
    )
    _, rejected, enf = run(KEYED, [batch, batch])
    assert len(rejected) == 2000
    assert enf.counts.reasons == {**{f"code_{i}": 2 for i in range(16)}, "unreadable_row": 2 * 984}


def test_an_old_quarantine_table_with_new_rows_publishes_its_new_columns_to_the_catalog(
    tmp_path: Path,
) -> None:
    import duckdb

    from lake.catalog import publish_table

    lake = Lake(root=str(tmp_path / "lake"))
    old_schema = pa.schema([f for f in quarantine_schema(KEYED) if f.name not in ("_raw", "_source_line")])
    q_uri = lake.table_uri("quarantine", KEYED.name)
    old_row = {f.name: None for f in old_schema} | {"id": "x", "_reasons": ["type:id"], "_source_row": 1}
    append_idempotent(
        q_uri, [pa.RecordBatch.from_pylist([old_row], schema=old_schema)], schema=old_schema, app_id="before"
    )
    batches = [reader_batch(["1", "2"], ["a", None], [None, "ragged_row"], lines=[2, 3])]
    obj = SourceObject(uri="file:///in.csv", sha256="cd" * 32, size=10)
    assert ingest_object(_Batches(batches), obj, KEYED, lake).status == "committed"
    catalog = tmp_path / "catalog.duckdb"
    publish_table(catalog, "quarantine", KEYED.name, q_uri)
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        raw = con.execute(f"select _raw from quarantine.{KEYED.name} where _raw is not null").fetchall()
    finally:
        con.close()
    assert raw == [(b"2,None,extra\n",)]
