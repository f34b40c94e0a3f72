"""Dates and timestamps hold years 0001-9999: anything else is a type error, never a crash and never
a bronze value that breaks the table's readers.

Why ``type:<col>`` and not a range code: like an int32 overflow, such a value is not a value of the
contract type (the Delta protocol, Parquet readers and Python's datetime all stop at 0001-9999).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from connectors.base import Source, SourceObject
from lake.delta import Lake
from pipeline.ingest import ingest_object
from tests.contracts.helpers import by_row, make_contract, run, text_batch


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def outcome(type_: str, values: list[Any], **typed: pa.Array) -> list[Any]:
    """The bronze value or the reasons of each value of column ``x`` (text, or ``typed['x']``)."""
    contract = make_contract([{"name": "x", "type": type_}])
    batch = text_batch({} if typed else {"x": values}, **typed)
    valid, rejected, _ = run(contract, [batch])
    got = by_row(valid, rejected, "x")
    return [got[i + 1] for i in range(batch.num_rows)]


TYPE_X = ["type:x"]
DATE_CASES = [
    ("0001-01-01", date(1, 1, 1)),
    ("9999-12-31", date(9999, 12, 31)),
    ("0000-01-01", TYPE_X),  # year 0
    ("0000-12-31", TYPE_X),
    ("-0001-01-01", TYPE_X),  # a negative year
    ("10000-01-01", TYPE_X),
    ("99999-12-31", TYPE_X),
    ("-262144-01-01", TYPE_X),
]
TIMESTAMP_CASES = [
    ("0001-01-01T00:00:00Z", utc(1, 1, 1)),
    ("0001-01-01T00:00:00-01:00", utc(1, 1, 1, 1)),
    ("0001-01-01T00:30:00+01:00", TYPE_X),  # the offset carries it into year 0
    ("9999-12-31T23:59:59.999999Z", utc(9999, 12, 31, 23, 59, 59, 999999)),
    ("9999-12-31T23:59:59.999999", utc(9999, 12, 31, 23, 59, 59, 999999)),
    ("9999-12-31T23:30:00+01:00", utc(9999, 12, 31, 22, 30)),
    ("9999-12-31T23:59:59-01:00", TYPE_X),  # ... into year 10000
    ("9999-12-31 23:59:59.9999999", utc(9999, 12, 31, 23, 59, 59, 999999)),  # nanoseconds cut
    ("2016-12-31T23:59:60Z", utc(2017, 1, 1)),  # a leap second: the next second, as Unix time
    ("9999-12-31T23:59:60Z", TYPE_X),  # ... which here is in year 10000
    ("2024-01-01T00:00:00+23:59", utc(2023, 12, 31, 0, 1)),
    ("2024-01-01T00:00:00+24:00", TYPE_X),  # offsets end at 23:59
    ("2024-01-01T00:00:00+99:00", TYPE_X),
    ("2024-01-01T00:00:00+1234567", TYPE_X),
    ("0000-01-01T00:00:00Z", TYPE_X),
    ("-0001-01-01T00:00:00Z", TYPE_X),
    ("-0001-01-01T00:00:00", TYPE_X),
    ("10000-01-01T00:00:00Z", TYPE_X),
]


@pytest.mark.parametrize(("type_", "cases"), [("date", DATE_CASES), ("timestamp", TIMESTAMP_CASES)])
def test_values_outside_years_1_to_9999_are_type_errors_wherever_they_are_in_the_input(
    type_: str, cases: list[tuple[str, Any]]
) -> None:
    texts, want = [t for t, _ in cases], [w for _, w in cases]
    assert outcome(type_, texts) == want
    # First in the input, each value picks the column's fast format (it used to crash there).
    for text, expected in cases:
        assert outcome(type_, [text, texts[0]]) == [expected, want[0]], text
        assert outcome(type_, [f" {text} ", None]) == [expected, None], text


def test_a_quarantined_out_of_range_value_keeps_its_text_and_says_which_years_fit() -> None:
    contract = make_contract([{"name": "d", "type": "date"}, {"name": "t", "type": "timestamp"}])
    valid, rejected, _ = run(contract, [text_batch({"d": ["-0001-01-01"], "t": ["10000-01-01T00:00:00Z"]})])
    assert valid == []
    (row,) = rejected
    assert (row["d"], row["t"], row["_reasons"]) == (
        "-0001-01-01",
        "10000-01-01T00:00:00Z",
        ["type:d", "type:t"],
    )
    assert row["_errors"] == (
        "d: '-0001-01-01' is not a date (YYYY-MM-DD, years 0001-9999); "
        "t: '10000-01-01T00:00:00Z' is not a timestamp (ISO 8601, years 0001-9999)"
    )


DATE32 = [-719_163, -719_162, 0, 2_932_896, 2_932_897, -800_000, -(2**31), 2**31 - 1, None]
DATE32_WANT = [TYPE_X, date(1, 1, 1), date(1970, 1, 1), date(9999, 12, 31)] + [TYPE_X] * 4 + [None]
SECONDS_9999 = 253_402_300_799  # 9999-12-31T23:59:59Z


@pytest.mark.parametrize(
    ("arrow_type", "values", "want"),
    [
        (
            pa.timestamp("s"),
            [SECONDS_9999, SECONDS_9999 + 1, 2**62, -(2**62), -62_135_596_800, -62_135_596_801],
            [utc(9999, 12, 31, 23, 59, 59), TYPE_X, TYPE_X, TYPE_X, utc(1, 1, 1), TYPE_X],
        ),
        (
            pa.timestamp("ms", tz="+01:00"),
            [SECONDS_9999 * 1000 + 999, 2**62, -(2**63) + 1],
            [utc(9999, 12, 31, 23, 59, 59, 999000), TYPE_X, TYPE_X],
        ),
        (
            pa.timestamp("us", tz="UTC"),
            [SECONDS_9999 * 10**6 + 999_999, 2**63 - 1, None],
            [utc(9999, 12, 31, 23, 59, 59, 999999), TYPE_X, None],
        ),
        (
            pa.timestamp("ns"),
            [2**63 - 1, -(2**63) + 1],
            [utc(2262, 4, 11, 23, 47, 16, 854775), utc(1677, 9, 21, 0, 12, 43, 145224)],
        ),
        (
            pa.date64(),
            [SECONDS_9999 * 1000, (SECONDS_9999 + 1) * 1000, -(2**62)],
            [utc(9999, 12, 31, 23, 59, 59), TYPE_X, TYPE_X],
        ),
        (pa.date32(), DATE32, [utc(*d.timetuple()[:3]) if isinstance(d, date) else d for d in DATE32_WANT]),
    ],
)
def test_typed_dates_and_timestamps_outside_years_1_to_9999_are_type_errors(
    arrow_type: pa.DataType, values: list[int | None], want: list[Any]
) -> None:
    arr = (
        pa.array(values, pa.int64()).cast(arrow_type)
        if arrow_type != pa.date32()
        else pa.array(values, pa.int32()).cast(pa.date32())
    )
    assert outcome("timestamp", [], x=arr) == want


def test_typed_dates_convert_exactly_for_a_date_column_and_are_quoted_by_number_when_no_calendar_fits() -> (
    None
):
    arr = pa.array(DATE32, pa.int32()).cast(pa.date32())
    assert outcome("date", [], x=arr) == DATE32_WANT
    contract = make_contract([{"name": "x", "type": "date", "constraints": {"min": 0}}])
    _, rejected, _ = run(contract, [text_batch({}, x=arr)])
    assert [(r["x"], r["_reasons"]) for r in rejected] == [
        ("-719163 days since 1970-01-01", ["type:x"]),
        ("0001-01-01", ["min:x"]),
        ("2932897 days since 1970-01-01", ["type:x"]),
        ("-800000 days since 1970-01-01", ["type:x"]),
        (f"{-(2**31)} days since 1970-01-01", ["type:x"]),
        (f"{2**31 - 1} days since 1970-01-01", ["type:x"]),
    ]
    assert rejected[1]["_errors"] == "x: '0001-01-01' is before min 1970-01-01"
    seconds = pa.array([2**62], pa.int64()).cast(pa.timestamp("s"))
    string_contract = make_contract([{"name": "x", "type": "string"}])
    valid, _, _ = run(string_contract, [text_batch({}, x=seconds)])
    assert valid[0]["x"] == f"{2**62} seconds since 1970-01-01"


def test_date_and_timestamp_bounds_are_compared_exactly() -> None:
    contract = make_contract(
        [
            {"name": "d", "type": "date", "constraints": {"min": -719_162, "max": 2_932_896}},
            {"name": "t", "type": "timestamp", "constraints": {"max": 253_402_300_799_999_999}},
        ]
    )
    batch = text_batch({"d": ["0001-01-01", "9999-12-31"], "t": ["9999-12-31T23:59:59.999999Z", None]})
    valid, rejected, _ = run(contract, [batch])
    assert len(valid) == 2 and rejected == []


class _Parquet(Source):
    kind = "s3"

    def __init__(self, path: Path) -> None:
        super().__init__(name="parquet", dataset="t")
        self.path = path

    def discover(self) -> list[SourceObject]:
        return []

    def read(self, obj: SourceObject, *, batch_rows: int = 0) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(self.path).iter_batches(batch_size=3)


def test_typed_parquet_values_out_of_range_never_reach_bronze_which_reads_back_whole(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(range(1, 8), pa.int64()),
            "day": pa.array([0, -800_000, 2_932_897, 19_723, -719_163, 2_932_896, None], pa.int32()).cast(
                pa.date32()
            ),
            "at": pa.array(
                [0, 2**62, -(2**62), 10**15, SECONDS_9999 * 10**6, None, -(10**17)], pa.int64()
            ).cast(pa.timestamp("us")),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    contract = make_contract(
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "day", "type": "date"},
            {"name": "at", "type": "timestamp"},
        ],
        primary_key=["id"],
    )
    lake = Lake(root=str(tmp_path / "lake"))
    result = ingest_object(_Parquet(path), SourceObject("file:///in.parquet", "ef" * 32, 1), contract, lake)
    assert result.status == "committed", result.error
    assert (result.counts.valid, result.counts.rejected) == (3, 4)
    bronze = DeltaTable(lake.table_uri("bronze", "t")).to_pyarrow_dataset().to_table().to_pylist()
    assert sorted((r["id"], r["day"], r["at"]) for r in bronze) == [
        (1, date(1970, 1, 1), utc(1970, 1, 1)),
        (4, date(2024, 1, 1), utc(2001, 9, 9, 1, 46, 40)),
        (6, date(9999, 12, 31), None),
    ]
    quarantine = DeltaTable(lake.table_uri("quarantine", "t")).to_pyarrow_table().to_pylist()
    assert {r["id"]: r["_reasons"] for r in quarantine} == {
        "2": ["type:day", "type:at"],
        "3": ["type:day", "type:at"],
        "5": ["type:day"],
        "7": ["type:at"],
    }
    assert {r["id"]: r["day"] for r in quarantine}["3"] == "2932897 days since 1970-01-01"


@pytest.mark.network
@pytest.mark.slow
def test_an_s3_parquet_object_with_out_of_range_dates_leaves_an_s3_lake_readable(tmp_path: Path) -> None:
    """The reported failure: a negative year accepted into bronze broke to_pyarrow_dataset() on s3://."""
    from connectors.s3 import S3Source
    from connectors.s3.local_server import local_s3_server

    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "day": pa.array([19_723, -719_893, 2_932_897], pa.int32()).cast(pa.date32()),  # -0001-01-01
            "at": pa.array([0, -62_198_755_200_000_000, 0], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    contract = make_contract(
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "day", "type": "date"},
            {"name": "at", "type": "timestamp"},
        ],
        primary_key=["id"],
    )
    with local_s3_server(separate_process=True) as s3:
        client = s3.client()
        for bucket in ("partner", "lake"):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket="partner", Key="in/days.parquet", Body=path.read_bytes())
        source = S3Source.from_dict(
            {
                "name": "partner_s3",
                "dataset": "t",
                "bucket": "partner",
                "prefix": "in/",
                "endpoint_url": s3.endpoint_url,
                "region": s3.region,
                "addressing_style": "path",
            },
            session=s3.session(),
        )
        lake = Lake(root="s3://lake/maestro", storage_options=s3.delta_storage_options())
        (obj,) = source.discover()
        result = ingest_object(source, obj, contract, lake)
        assert result.status == "committed", result.error
        assert (result.counts.valid, result.counts.rejected) == (1, 2)
        bronze = DeltaTable(lake.table_uri("bronze", "t"), storage_options=lake.options())
        rows = bronze.to_pyarrow_dataset().to_table().to_pylist()
        assert rows[0]["id"] == 1 and rows[0]["day"] == date(2024, 1, 1)
        quarantine = DeltaTable(lake.table_uri("quarantine", "t"), storage_options=lake.options())
        got = {
            r["id"]: (r["day"], r["_reasons"]) for r in quarantine.to_pyarrow_dataset().to_table().to_pylist()
        }
        assert got == {
            "2": ("-719893 days since 1970-01-01", ["type:day", "type:at"]),
            "3": ("2932897 days since 1970-01-01", ["type:day"]),
        }
