"""Contract enforcement semantics: where every row ends, with which reasons, whatever the batching.

These tests pin behaviour (not speed): type parsing per contract type, every rule's reason code,
first-occurrence-wins primary keys, exact duplicates, unique constraints across batch boundaries,
count reconciliation and verbatim original text in quarantine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.csv.config import CsvOptions
from connectors.csv.reader import read_csv_batches
from contracts.enforce import Enforcer, InputContext, bronze_schema, quarantine_schema
from contracts.exceptions import SchemaMismatchError
from contracts.model import Contract

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BATCH_SIZES = [1, 2, 3, 1000]


def make_contract(columns: list[dict[str, Any]], **extra: Any) -> Contract:
    return Contract.model_validate(
        {
            "name": "t",
            "version": "1.2.3",
            "owner": "o@example.com",
            "description": "test",
            "columns": columns,
            **extra,
        }
    )


def enforce(
    contract: Contract,
    rows: list[dict[str, str | None]],
    *,
    batch_rows: int = 1000,
    names: list[str] | None = None,
) -> tuple[list[dict], list[dict], Enforcer]:
    """Feed ``rows`` (original text) in batches; return (valid rows, rejected rows, enforcer)."""
    names = names or [c.source for c in contract.columns]
    enforcer = Enforcer(contract, context=InputContext("man-1", "file:///in.csv", "ab" * 32, NOW))
    valid: list[dict] = []
    rejected: list[dict] = []
    for start in range(0, max(len(rows), 1), batch_rows):
        chunk = rows[start : start + batch_rows]
        batch = pa.record_batch(
            [pa.array([r.get(n) for r in chunk], pa.string()) for n in names], names=names
        )
        out = enforcer.process(batch)
        assert out.valid.schema == bronze_schema(contract)
        valid += out.valid.to_pylist()
        if out.rejected is not None:
            assert out.rejected.schema == quarantine_schema(contract)
            rejected += out.rejected.to_pylist()
        assert out.counts.reconciles
    assert enforcer.counts.reconciles
    assert enforcer.counts.read == len(rows)
    assert enforcer.counts.valid == len(valid)
    assert enforcer.counts.rejected == len(rejected)
    return valid, rejected, enforcer


def outcome(contract: Contract, values: list[str | None]) -> list[Any]:
    """Typed value of each input value of the single column ``x``, or the reasons it was rejected."""
    valid, rejected, _ = enforce(contract, [{"x": v} for v in values])
    by_row: dict[int, Any] = {r["_source_row"]: r["x"] for r in valid}
    by_row.update({r["_source_row"]: r["_reasons"] for r in rejected})
    return [by_row[i + 1] for i in range(len(values))]


def one_column(type_: str, **kw: Any) -> Contract:
    return make_contract([{"name": "x", "type": type_, **kw}])


TYPE_CASES: dict[str, list[tuple[str, Any]]] = {
    "int32": [
        ("1", 1),
        (" 7 ", 7),
        ("+5", 5),
        ("007", 7),
        ("-2147483648", -2147483648),
        ("-0", 0),
        ("1.5", None),
        ("1e3", None),
        ("3000000000", None),
        ("abc", None),
        ("0x10", None),
        ("1_000", None),
        ("", None),
    ],
    "int64": [
        ("9223372036854775807", 9223372036854775807),
        (" -3", -3),
        ("+0", 0),
        ("9223372036854775808", None),
        ("1.0", None),
        ("1 2", None),
        ("--1", None),
        ("x", None),
    ],
    "float64": [
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("5.", 5.0),
        (" 2 ", 2.0),
        ("+1.5", 1.5),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("infinity", None),
        ("1e400", None),
        ("1,5", None),
        ("1.5f", None),
        ("", None),
    ],
    "boolean": [
        ("true", True),
        ("T", True),
        ("YES", True),
        ("y", True),
        ("1", True),
        ("TRUE", True),
        ("0", False),
        ("No", False),
        (" false ", False),
        ("f", False),
        ("maybe", None),
        ("2", None),
        ("on", None),
        ("", None),
    ],
    "date": [
        ("2024-01-05", date(2024, 1, 5)),
        ("2024-1-5", date(2024, 1, 5)),
        (" 2024-01-05 ", date(2024, 1, 5)),
        ("9999-12-31", date(9999, 12, 31)),
        ("2024-02-30", None),
        ("20240105", None),
        ("2024-01-05T00:00:00", None),
        ("2024-13-01", None),
        ("2024/01/05", None),
        ("2024-01-05x", None),
        ("x", None),
    ],
    "string": [("anything", "anything"), (" kept as is ", " kept as is "), ("", "")],
}


@pytest.mark.parametrize("type_", sorted(TYPE_CASES))
def test_each_type_parses_good_text_and_rejects_bad_text_with_a_type_reason(type_: str) -> None:
    cases = TYPE_CASES[type_]
    got = outcome(one_column(type_), [text for text, _ in cases])
    want = [value if value is not None else ["type:x"] for _, value in cases]
    assert got == want


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_timestamps_with_z_offset_or_no_zone_are_stored_in_utc_and_others_are_type_errors() -> None:
    cases = [
        ("2026-01-01T10:00:00Z", utc(2026, 1, 1, 10)),
        ("2026-01-01T10:00:00z", utc(2026, 1, 1, 10)),
        ("2026-01-01T10:00:00+02:00", utc(2026, 1, 1, 8)),
        ("2026-01-01T10:00:00-05:30", utc(2026, 1, 1, 15, 30)),
        ("2026-01-01T10:00:00.5+0100", utc(2026, 1, 1, 9, 0, 0, 500000)),
        ("2026-01-01T10:00:00+00", utc(2026, 1, 1, 10)),
        ("2026-01-01T10:00:00.123456Z", utc(2026, 1, 1, 10, 0, 0, 123456)),
        ("2026-01-01T10:00:00.123456789Z", utc(2026, 1, 1, 10, 0, 0, 123456)),
        ("2026-01-01T10:00:00", utc(2026, 1, 1, 10)),  # naive: taken as UTC
        ("2026-01-01T10:00:00.1234", utc(2026, 1, 1, 10, 0, 0, 123400)),
        ("2026-01-01 10:00:00", utc(2026, 1, 1, 10)),
        (" 2026-01-01T10:00:00Z ", utc(2026, 1, 1, 10)),
        ("yesterday", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-01-01T25:00:00", None),
        ("2026-01-01", None),
        ("2026-01-01T10:00Z", None),
        ("2026-01-01 10:00:00Z", None),
        ("2026-01-01 10:00:00+02:00", None),
        ("2026-01-01T10:00:00+2", None),
        ("", None),
    ]
    want = [value if value is not None else ["type:x"] for _, value in cases]
    # Whatever format comes first in the input, every row is parsed on its own merits.
    for rotate in range(0, len(cases), 4):
        texts = [t for t, _ in cases[rotate:] + cases[:rotate]]
        expected = want[rotate:] + want[:rotate]
        assert outcome(one_column("timestamp"), texts) == expected
        assert outcome(one_column("timestamp"), [None, *texts]) == [None, *expected]


def test_a_missing_value_fails_not_null_only_when_the_column_is_required() -> None:
    required = make_contract([{"name": "x", "type": "int64", "nullable": False}])
    assert outcome(required, [None, "1"]) == [["not_null:x"], 1]
    assert outcome(one_column("int64"), [None, "1"]) == [None, 1]
    assert outcome(one_column("timestamp"), [None]) == [None]


@pytest.mark.parametrize(
    ("type_", "constraints", "cases"),
    [
        ("int64", {"min": 1, "max": 10}, [("1", 1), ("10", 10), ("0", ["min:x"]), ("11", ["max:x"])]),
        ("int32", {"min": -5}, [("-5", -5), ("-6", ["min:x"])]),
        (
            "float64",
            {"min": 0, "max": 1.5},
            [("0", 0.0), ("1.5", 1.5), ("-0.01", ["min:x"]), ("1.51", ["max:x"]), ("x", ["type:x"])],
        ),
        # Date and timestamp bounds are numbers: days / microseconds since 1970-01-01 UTC.
        (
            "date",
            {"min": 19723, "max": 20088},
            [("2024-01-01", date(2024, 1, 1)), ("2023-12-31", ["min:x"]), ("2025-01-01", ["max:x"])],
        ),
        (
            "timestamp",
            {"min": 1_704_067_200_000_000, "max": 1_735_603_200_000_000},
            [
                ("2024-01-01T00:00:00Z", utc(2024, 1, 1)),
                ("2024-01-01T00:30:00+01:00", ["min:x"]),
                ("2024-12-31T00:00:01Z", ["max:x"]),
            ],
        ),
    ],
)
def test_min_and_max_are_inclusive_bounds(type_: str, constraints: dict, cases: list) -> None:
    contract = one_column(type_, constraints=constraints)
    assert outcome(contract, [t for t, _ in cases]) == [v for _, v in cases]


def test_allowed_values_pattern_and_lengths_reject_with_their_own_reasons() -> None:
    contract = make_contract(
        [
            {"name": "kind", "type": "string", "constraints": {"allowed_values": ["a", "b"]}},
            {"name": "code", "type": "string", "constraints": {"pattern": "^[A-Z]{2}$"}},
            {"name": "name", "type": "string", "constraints": {"min_length": 2, "max_length": 4}},
            {"name": "level", "type": "int32", "constraints": {"allowed_values": ["1", "2"]}},
        ]
    )
    rows = [
        {"kind": "a", "code": "DE", "name": "ab", "level": "1"},
        {"kind": "c", "code": "DE", "name": "abcd", "level": "2"},
        {"kind": "A", "code": "de", "name": "a", "level": "3"},
        {"kind": "b", "code": "DEU", "name": "abcde", "level": " 2 "},
        {"kind": None, "code": None, "name": None, "level": None},
        {"kind": "b", "code": "D1", "name": "\u00e9\u00e9\u00e9\u00e9", "level": "x"},
    ]
    valid, rejected, enf = enforce(contract, rows)
    assert {r["_source_row"]: r["_reasons"] for r in rejected} == {
        2: ["allowed_values:kind"],
        3: ["allowed_values:kind", "pattern:code", "min_length:name", "allowed_values:level"],
        4: ["pattern:code", "max_length:name"],
        6: ["pattern:code", "type:level"],
    }
    assert [r["_source_row"] for r in valid] == [1, 5]
    assert valid[1]["kind"] is None and valid[1]["level"] is None
    assert enf.counts.reasons == {
        "allowed_values:kind": 2,
        "pattern:code": 3,
        "min_length:name": 1,
        "max_length:name": 1,
        "allowed_values:level": 1,
        "type:level": 1,
    }


def test_quarantine_keeps_the_original_text_and_explains_each_reason() -> None:
    contract = make_contract(
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "amount", "type": "float64", "constraints": {"min": 0}},
            {"name": "when", "type": "timestamp", "nullable": False},
        ]
    )
    rows = [
        {"id": " 7 ", "amount": "n/a", "when": "2026-01-01T10:00:00+02:00"},
        {"id": "8", "amount": " -1.50 ", "when": None},
        {"id": "9", "amount": "1", "when": "2026-01-01T10:00:00Z"},
    ]
    valid, rejected, _ = enforce(contract, rows)
    assert [r["id"] for r in valid] == [9]
    first, second = rejected
    assert (first["id"], first["amount"], first["when"]) == (" 7 ", "n/a", "2026-01-01T10:00:00+02:00")
    assert first["_reasons"] == ["type:amount"]
    assert first["_errors"] == "amount: 'n/a' is not a finite number"
    assert (second["id"], second["amount"], second["when"]) == ("8", " -1.50 ", None)
    assert second["_reasons"] == ["min:amount", "not_null:when"]
    assert second["_errors"] == "amount: ' -1.50 ' is below min 0; when: required, but missing"
    assert first["_source_row"] == 1 and second["_source_row"] == 2
    assert first["_manifest_id"] == "man-1" and first["_source_uri"] == "file:///in.csv"
    assert first["_source_sha256"] == "ab" * 32 and first["_quarantined_at"] == NOW
    assert first["_contract_version"] == "1.2.3"
    assert valid[0]["_source_row"] == 3 and valid[0]["_ingested_at"] == NOW
    assert valid[0]["_manifest_id"] == "man-1" and valid[0]["_contract_version"] == "1.2.3"


KEYED = [
    {"name": "id", "type": "int64", "nullable": False},
    {"name": "v", "type": "string"},
    {"name": "amount", "type": "float64"},
]
KEYED_ROWS = [
    {"id": "1", "v": "a", "amount": "1"},  # 1 valid (first of key 1)
    {"id": "2", "v": "b", "amount": "x"},  # 2 rejected: type; does not claim key 2
    {"id": "1", "v": "a", "amount": "1.0"},  # 3 exact duplicate of row 1 (typed values equal)
    {"id": "2", "v": "b", "amount": "2"},  # 4 valid (first *valid* row of key 2)
    {"id": "1", "v": "z", "amount": "1"},  # 5 duplicate_key: key 1 with other values
    {"id": " 2", "v": "b", "amount": "2"},  # 6 exact duplicate of row 4
    {"id": "3", "v": None, "amount": None},  # 7 valid
    {"id": "1", "v": "z", "amount": "1"},  # 8 duplicate_key again (row 5 never claimed key 1)
    {"id": "3", "v": None, "amount": None},  # 9 exact duplicate with nulls
    {"id": "3", "v": "", "amount": None},  # 10 duplicate_key: empty string is not null
    {"id": "4", "v": "d", "amount": "4"},  # 11 valid
]


@pytest.mark.parametrize("batch_rows", BATCH_SIZES)
def test_first_occurrence_of_a_key_wins_and_exact_duplicates_are_counted_across_batches(
    batch_rows: int,
) -> None:
    contract = make_contract(KEYED, primary_key=["id"])
    valid, rejected, enf = enforce(contract, KEYED_ROWS, batch_rows=batch_rows)
    assert [(r["_source_row"], r["id"], r["v"]) for r in valid] == [
        (1, 1, "a"),
        (4, 2, "b"),
        (7, 3, None),
        (11, 4, "d"),
    ]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [
        (2, ["type:amount"]),
        (5, ["duplicate_key"]),
        (8, ["duplicate_key"]),
        (10, ["duplicate_key"]),
    ]
    assert rejected[1]["_errors"] == (
        "primary key (id): '1' is already used by row 1 of this input, with different values"
    )
    assert rejected[3]["_errors"] == (
        "primary key (id): '3' is already used by row 7 of this input, with different values"
    )
    assert rejected[1]["id"] == "1" and rejected[1]["v"] == "z"
    assert (enf.counts.read, enf.counts.valid, enf.counts.rejected, enf.counts.duplicates) == (11, 4, 4, 3)
    assert enf.counts.reasons == {"type:amount": 1, "duplicate_key": 3}


@pytest.mark.parametrize("batch_rows", BATCH_SIZES)
def test_a_composite_primary_key_compares_all_its_columns(batch_rows: int) -> None:
    contract = make_contract(
        [
            {"name": "a", "type": "string", "nullable": False},
            {"name": "b", "type": "date", "nullable": False},
            {"name": "n", "type": "int32"},
        ],
        primary_key=["a", "b"],
    )
    rows = [
        {"a": "x", "b": "2024-01-01", "n": "1"},
        {"a": "x", "b": "2024-01-02", "n": "1"},
        {"a": "y", "b": "2024-01-01", "n": "1"},
        {"a": "x", "b": "2024-1-1", "n": "1"},  # same typed key and values as row 1
        {"a": "x", "b": "2024-01-02", "n": "2"},  # same key as row 2, other value
    ]
    valid, rejected, enf = enforce(contract, rows, batch_rows=batch_rows)
    assert [r["_source_row"] for r in valid] == [1, 2, 3]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [(5, ["duplicate_key"])]
    assert enf.counts.duplicates == 1


@pytest.mark.parametrize("batch_rows", BATCH_SIZES)
def test_unique_values_may_be_used_once_and_only_kept_rows_claim_them(batch_rows: int) -> None:
    contract = make_contract(
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "email", "type": "string", "constraints": {"unique": True}},
            {"name": "n", "type": "int32"},
        ],
        primary_key=["id"],
    )
    rows = [
        {"id": "1", "email": "a@x", "n": "bad"},  # 1 rejected (type): does not claim a@x
        {"id": "2", "email": "a@x", "n": "1"},  # 2 valid: first kept row with a@x
        {"id": "3", "email": "a@x", "n": "1"},  # 3 unique:email
        {"id": "2", "email": "a@x", "n": "1"},  # 4 exact duplicate of row 2, not a unique clash
        {"id": "4", "email": None, "n": "1"},  # 5 nulls are not values: valid
        {"id": "5", "email": None, "n": "1"},  # 6 valid
        {"id": "6", "email": "b@x", "n": "1"},  # 7 valid
        {"id": "6", "email": "c@x", "n": "1"},  # 8 duplicate_key: does not claim c@x
        {"id": "7", "email": "c@x", "n": "1"},  # 9 valid
        {"id": "8", "email": "b@x", "n": "1"},  # 10 unique:email
    ]
    valid, rejected, enf = enforce(contract, rows, batch_rows=batch_rows)
    assert [r["_source_row"] for r in valid] == [2, 5, 6, 7, 9]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [
        (1, ["type:n"]),
        (3, ["unique:email"]),
        (8, ["duplicate_key"]),
        (10, ["unique:email"]),
    ]
    assert rejected[1]["_errors"] == "email: 'a@x' is already used by row 2 of this input"
    assert rejected[3]["_errors"] == "email: 'b@x' is already used by row 7 of this input"
    assert enf.counts.duplicates == 1


@pytest.mark.parametrize("batch_rows", BATCH_SIZES)
def test_unique_without_a_primary_key_checks_typed_values(batch_rows: int) -> None:
    contract = make_contract([{"name": "code", "type": "int64", "constraints": {"unique": True}}])
    rows = [{"code": "1"}, {"code": " 1"}, {"code": "2"}, {"code": "x"}, {"code": "02"}, {"code": "3"}]
    valid, rejected, enf = enforce(contract, rows, batch_rows=batch_rows)
    assert [r["code"] for r in valid] == [1, 2, 3]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [
        (2, ["unique:code"]),
        (4, ["type:code"]),
        (5, ["unique:code"]),
    ]
    assert enf.counts.duplicates == 0


def test_many_rows_in_small_batches_reconcile_with_one_big_batch() -> None:
    contract = make_contract(
        KEYED + [{"name": "ts", "type": "timestamp", "nullable": False}], primary_key=["id"]
    )
    rows = []
    for i in range(3000):
        key = (i * 7919) % 1000  # every key comes back three times
        rows.append(
            {
                "id": str(key) if i % 97 else f"k{key}",
                "v": "same" if i % 5 else f"v{i}",
                "amount": "n/a" if i % 101 == 0 else str(key % 13),
                "ts": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-01-01 00:00:00"][i % 3]
                if i % 89
                else "bad",
            }
        )
    results = []
    for batch_rows in (64, 1000, 5000):
        valid, rejected, enf = enforce(contract, rows, batch_rows=batch_rows)
        results.append(
            (
                [r["_source_row"] for r in valid],
                [(r["_source_row"], r["_reasons"]) for r in rejected],
                enf.counts,
            )
        )
        assert enf.counts.reconciles and enf.counts.duplicates > 0
        assert sum(enf.counts.reasons.values()) >= enf.counts.rejected
    assert results[0] == results[1] == results[2]


def test_columns_that_do_not_fit_the_contract_fail_the_whole_input() -> None:
    contract = make_contract(
        [{"name": "a", "type": "int64", "nullable": False}, {"name": "b", "type": "string"}]
    )
    with pytest.raises(SchemaMismatchError, match="required columns missing: 'a'"):
        enforce(contract, [{"b": "x"}], names=["b"])
    with pytest.raises(SchemaMismatchError, match="not in contract"):
        enforce(contract, [{"a": "1", "c": "x"}], names=["a", "c"])
    # An absent nullable column arrives as nulls; extra columns are dropped when the contract says so.
    valid, _, _ = enforce(contract, [{"a": "1"}], names=["a"])
    assert valid[0]["a"] == 1 and valid[0]["b"] is None
    dropping = make_contract([{"name": "a", "type": "int64"}], extra_columns="drop")
    valid, _, _ = enforce(dropping, [{"a": "1", "c": "x"}], names=["a", "c"])
    assert valid[0]["a"] == 1 and "c" not in valid[0]


def test_source_names_map_to_contract_columns() -> None:
    contract = make_contract([{"name": "amount", "type": "float64", "source_name": "Amount EUR"}])
    valid, rejected, _ = enforce(contract, [{"Amount EUR": "1.5"}, {"Amount EUR": "x"}])
    assert valid[0]["amount"] == 1.5
    assert rejected[0]["amount"] == "x" and rejected[0]["_reasons"] == ["type:amount"]


def test_typed_source_columns_are_cast_and_uncastable_values_are_type_errors() -> None:
    contract = make_contract([{"name": "n", "type": "int32"}, {"name": "f", "type": "float64"}])
    enforcer = Enforcer(contract, context=InputContext("m", "u", "s", NOW))
    batch = pa.record_batch(
        [pa.array([1, 2**40, None], pa.int64()), pa.array([1.5, 2.0, None])], names=["n", "f"]
    )
    out = enforcer.process(batch)
    assert out.valid.column("n").to_pylist() == [1, None]
    assert out.rejected is not None and out.rejected.column("n").to_pylist() == [str(2**40)]
    assert out.rejected.column("_reasons").to_pylist() == [["type:n"]]


@pytest.mark.parametrize("batch_rows", [2, 1000])
def test_csv_text_reaches_enforcement_verbatim_and_empty_fields_are_nulls(
    tmp_path: Path, batch_rows: int
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        'id,name,amount\n1," padded ",1.5\n2,,x\n3,"quoted, comma",\n1," padded ",1.50\n4,"a ""q""",2\n',
        encoding="utf-8",
    )
    contract = make_contract(
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "name", "type": "string", "nullable": False},
            {"name": "amount", "type": "float64"},
        ],
        primary_key=["id"],
    )
    enforcer = Enforcer(contract, context=InputContext("m", "u", "s", NOW))
    valid, rejected = [], []
    for batch in read_csv_batches(str(path), CsvOptions(), batch_rows=batch_rows):
        assert batch.num_rows <= batch_rows
        out = enforcer.process(batch)
        valid += out.valid.to_pylist()
        rejected += out.rejected.to_pylist() if out.rejected is not None else []
    assert [(r["id"], r["name"], r["amount"]) for r in valid] == [
        (1, " padded ", 1.5),
        (3, "quoted, comma", None),
        (4, 'a "q"', 2.0),
    ]
    # The reader keeps the empty field as its text and names "" a null token: null for the rules,
    # the original text in quarantine.
    assert [(r["id"], r["name"], r["amount"], r["_reasons"]) for r in rejected] == [
        ("2", "", "x", ["not_null:name", "type:amount"])
    ]
    assert enforcer.counts.duplicates == 1 and enforcer.counts.reconciles


@pytest.mark.parametrize("memory_keys", [1, 5, 1 << 20])
def test_key_checks_give_the_same_outcome_when_keys_spill_to_disk(memory_keys: int) -> None:
    contract = make_contract(
        [
            {"name": "id", "type": "string", "nullable": False},
            {"name": "email", "type": "string", "constraints": {"unique": True}},
            {"name": "n", "type": "int64"},
        ],
        primary_key=["id"],
    )
    rows = [{"id": f"k{(i * 37) % 400}", "email": f"e{(i * 11) % 700}", "n": str(i % 3)} for i in range(2000)]
    enforcer = Enforcer(contract, context=InputContext("m", "u", "s", NOW), memory_keys=memory_keys)
    kept, reasons = [], []
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        names = ["id", "email", "n"]
        batch = pa.record_batch([pa.array([r[n] for r in chunk], pa.string()) for n in names], names=names)
        out = enforcer.process(batch)
        kept += out.valid.column("_source_row").to_pylist()
        if out.rejected is not None:
            reasons += list(
                zip(
                    out.rejected.column("_source_row").to_pylist(),
                    out.rejected.column("_reasons").to_pylist(),
                    strict=True,
                )
            )
    enforcer.close()
    # The same rules, row by row.
    first_row: dict[str, tuple] = {}
    emails: set[str] = set()
    want_kept, want_reasons, dups = [], [], 0
    for i, r in enumerate(rows, start=1):
        typed = (r["id"], r["email"], int(r["n"]))
        if r["id"] in first_row:
            if first_row[r["id"]] == typed:
                dups += 1
            else:
                want_reasons.append((i, ["duplicate_key"]))
            continue
        if r["email"] in emails:
            want_reasons.append((i, ["unique:email"]))
            first_row[r["id"]] = typed  # the key is kept by the first row even if it fails later
            continue
        first_row[r["id"]] = typed
        emails.add(r["email"])
        want_kept.append(i)
    assert kept == want_kept
    assert reasons == want_reasons
    assert enforcer.counts.duplicates == dups and enforcer.counts.reconciles


def test_the_spilling_key_set_finds_exactly_the_keys_it_was_given() -> None:
    import numpy as np

    from contracts.keyset import SeenKeys

    rng = np.random.default_rng(3)
    seen = SeenKeys(memory_keys=1000, value_width=2)
    stored: dict[int, list[int]] = {}
    for _ in range(40):
        probe = np.unique(rng.integers(0, 50_000, 700, dtype=np.int64).astype(np.uint64))
        found, values = seen.lookup(probe)
        assert found.tolist() == [int(k) in stored for k in probe]
        assert values[found].tolist() == [stored[int(k)] for k in probe[found]]
        new = probe[~found]
        vals = rng.integers(0, 2**63, (new.size, 2), dtype=np.int64).astype(np.uint64)
        seen.add(new, vals)
        stored.update(zip(new.tolist(), vals.tolist(), strict=True))
    assert len(seen._runs) > 5 and seen.size == len(stored)
    seen.close()


def test_csv_batches_spanning_read_blocks_keep_every_row_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = ["id,text"] + [f'{i},"row {i} {"x" * (i % 90)}"' for i in range(1, 30_001)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")  # ~1.6 MB: several read blocks
    batches = list(read_csv_batches(str(path), CsvOptions(), batch_rows=7_000))
    assert [b.num_rows for b in batches] == [7_000] * 4 + [2_000]
    contract = make_contract(
        [{"name": "id", "type": "int64", "nullable": False}, {"name": "text", "type": "string"}],
        primary_key=["id"],
    )
    enforcer = Enforcer(contract, context=InputContext("m", "u", "s", NOW))
    rows = [r for b in batches for r in enforcer.process(b).valid.to_pylist()]
    assert [r["_source_row"] for r in rows] == list(range(1, 30_001))
    assert [r["id"] for r in rows] == list(range(1, 30_001))
    assert all(r["text"] == f"row {r['id']} {'x' * (r['id'] % 90)}" for r in rows)
