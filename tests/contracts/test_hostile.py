"""What a hostile input can throw at enforcement: it never crashes, and every row ends in one place.

Whole-input problems (columns that cannot fit) are a :class:`SchemaMismatchError` with a short
message naming the column; everything else is row-level. The last test is property-style: seeded
random batches of nasty strings, reserved columns and null tokens, checked for what must always hold.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.exceptions import SchemaMismatchError
from tests.contracts.helpers import by_row, make_contract, run, text_batch

ID_NAME = [{"name": "id", "type": "int64", "nullable": False}, {"name": "name", "type": "string"}]


def test_huge_field_values_are_checked_and_quoted_briefly() -> None:
    contract = make_contract(
        [
            {"name": "n", "type": "int64"},
            {"name": "d", "type": "date"},
            {"name": "t", "type": "timestamp"},
            {"name": "s", "type": "string", "constraints": {"pattern": "^a+$", "max_length": 10}},
        ]
    )
    huge = "9" * 5_000_000
    valid, rejected, _ = run(
        contract, [text_batch({"n": [huge], "d": [huge], "t": [huge], "s": ["a" * 5_000_000]})]
    )
    assert valid == []
    (row,) = rejected
    assert row["_reasons"] == ["type:n", "type:d", "type:t", "max_length:s"]
    assert row["n"] == huge and len(row["_errors"]) < 700


def test_a_hundred_thousand_columns_give_a_short_error_or_are_dropped() -> None:
    names = ["id"] + [f"extra_{i}" for i in range(100_000)]
    arrays = [pa.array(["1"])] + [pa.nulls(1, pa.string())] * 100_000
    batch = pa.RecordBatch.from_arrays(arrays, names=names)
    with pytest.raises(SchemaMismatchError) as info:
        run(make_contract(ID_NAME), [batch])
    message = str(info.value)
    assert len(message) < 3_000 and "'extra_19'" in message and "and 99980 more" in message
    valid, _, _ = run(make_contract(ID_NAME, extra_columns="drop"), [batch])
    assert valid[0]["id"] == 1 and valid[0]["name"] is None


def test_odd_unicode_column_names_match_only_exactly_and_are_quoted_in_errors() -> None:
    contract = make_contract(
        [{"name": "email", "type": "string", "source_name": "E\u2011Mail \u2709", "nullable": False}]
    )
    lookalike = text_batch({"E-Mail \u2709": ["a@x"]})  # a hyphen-minus, not U+2011
    with pytest.raises(SchemaMismatchError) as info:
        run(contract, [lookalike])
    assert "'E\u2011Mail \u2709'" in str(info.value) and "'E-Mail \u2709'" in str(info.value)
    valid, _, _ = run(contract, [text_batch({"E\u2011Mail \u2709": ["a@x"]})])
    assert valid[0]["email"] == "a@x"
    with pytest.raises(SchemaMismatchError) as info:
        run(contract, [text_batch({"E\u2011Mail \u2709": ["a@x"], "x\n\u202e\x00": ["?"]})])
    assert "'x\\n\\u202e\\x00'" in str(info.value) and "\n" not in str(info.value)


def test_all_null_columns_of_any_arrow_type_and_absent_columns_are_nulls() -> None:
    contract = make_contract(
        [
            {"name": "a", "type": "int64"},
            {"name": "b", "type": "timestamp"},
            {"name": "c", "type": "string", "nullable": False},
            {"name": "d", "type": "boolean"},
        ]
    )
    batch = pa.RecordBatch.from_arrays(
        [pa.nulls(3), pa.nulls(3, pa.string()), pa.nulls(3, pa.large_string())], names=["a", "b", "c"]
    )
    valid, rejected, _ = run(contract, [batch])
    assert valid == [] and [r["_reasons"] for r in rejected] == [["not_null:c"]] * 3


def test_empty_batches_anywhere_and_an_input_of_only_empty_batches() -> None:
    contract = make_contract(ID_NAME, primary_key=["id"])
    empty = text_batch({"id": [], "name": []})
    valid, rejected, enf = run(contract, [empty, text_batch({"id": ["1", "1"], "name": ["a", "b"]}), empty])
    assert [r["_source_row"] for r in valid] == [1] and [r["_source_row"] for r in rejected] == [2]
    _, _, enf = run(contract, [empty, empty])
    assert enf.counts.read == 0 and enf.counts.reconciles
    nothing = make_contract([{"name": "x", "type": "string"}], extra_columns="drop")
    valid, _, _ = run(nothing, [pa.RecordBatch.from_arrays([pa.array([1, 2])], names=["other"])])
    assert [r["x"] for r in valid] == [None, None]


def test_a_schema_that_changes_mid_input_keeps_one_key_space() -> None:
    contract = make_contract(ID_NAME, primary_key=["id"])
    batches = [
        text_batch({"id": ["1", "2"], "name": ["a", "b"]}),
        pa.RecordBatch.from_arrays(
            [pa.array([1, 3], pa.int64()), pa.array(["a", "c"])], names=["id", "name"]
        ),
        text_batch({"id": ["2", "4"], "name": ["x", "d"]}, _maestro_error=pa.array([None, "encoding"])),
        pa.RecordBatch.from_arrays(
            [pa.array(["3", "5"]).dictionary_encode(), pa.array(["c", "e"]).dictionary_encode()],
            names=["id", "name"],
        ),
        pa.RecordBatch.from_arrays(
            [pa.array([Decimal("5.00"), Decimal("6.5")], pa.decimal128(10, 2))], names=["id"]
        ),
    ]
    valid, rejected, enf = run(contract, batches)
    assert [(r["_source_row"], r["id"], r["name"]) for r in valid] == [
        (1, 1, "a"),
        (2, 2, "b"),
        (4, 3, "c"),
        (8, 5, "e"),
    ]
    assert [(r["_source_row"], r["id"], r["_reasons"]) for r in rejected] == [
        (5, "2", ["duplicate_key"]),
        (6, "4", ["encoding"]),
        (9, "5.00", ["duplicate_key"]),  # 5 with no name: not row 8's values
        (10, "6.50", ["type:id"]),  # 6.5 is not a whole number
    ]
    assert enf.counts.duplicates == 2  # rows 3 (1, 'a') and 7 ('3', 'c')


@pytest.mark.parametrize(
    "arr",
    [
        pa.array([{"a": 1}]),
        pa.array([[1, 2]]),
        pa.array([b"1"]),
        pa.array([Decimal("1")], pa.decimal256(60, 0)),
        pa.array([1], pa.time64("us")),
        pa.array([1], pa.duration("s")),
        pa.array([1], pa.int64()).cast(pa.timestamp("s")),  # a timestamp for an integer column
    ],
    ids=lambda a: str(a.type),
)
def test_a_typed_column_that_cannot_hold_its_contract_type_rejects_the_input_naming_it(arr: pa.Array) -> None:
    contract = make_contract([{"name": "n", "type": "int64"}])
    with pytest.raises(
        SchemaMismatchError, match=r"file:///in.csv: column 'n' holds .*, which cannot be read as int64"
    ):
        run(contract, [pa.RecordBatch.from_arrays([arr], names=["n"])])


def test_typed_numbers_convert_only_when_nothing_is_lost() -> None:
    contract = make_contract(
        [{"name": "i", "type": "int32"}, {"name": "f", "type": "float64"}, {"name": "b", "type": "boolean"}]
    )
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([1.0, 1.5, float("nan"), 3e9, None]),
            pa.array([1.0, float("inf"), float("-inf"), float("nan"), None], pa.float32()),
            pa.array([1, 0, 2, -1, None], pa.int8()),
        ],
        names=["i", "f", "b"],
    )
    valid, rejected, _ = run(contract, [batch])
    assert by_row(valid, rejected, "i") == {
        1: 1,
        2: ["type:i", "type:f"],
        3: ["type:i", "type:f", "type:b"],
        4: ["type:i", "type:f", "type:b"],
        5: None,
    }
    assert (valid[0]["f"], valid[0]["b"]) == (1.0, True)


# -- property-style: random hostile batches -----------------------------------------------------

NASTY = [
    "",
    " ",
    "  \t",
    "NA",
    "null",
    "NULL",
    "None",
    "0",
    "-0",
    "+0",
    "00",
    "1e400",
    "-1e400",
    "nan",
    "-NaN",
    "inf",
    "Infinity",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "0x1F",
    "1_000",
    "1,5",
    "١٢٣",
    "１２３",
    "true",
    " TRUE ",
    "yes",
    "Y",
    "2",
    "2024-02-29",
    "2023-02-29",
    "0000-01-01",
    "-0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2016-12-31T23:59:60Z",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2024-01-01T00:00:00+23:59",
    "2024-01-01 00:00:00.123456789",
    "\x00",
    "\ufeffx",
    "\u202eevil",
    "e\u0301",
    "😀" * 50,
    "'",
    '"',
    "\\",
    ",",
    "\n",
    "\r\n",
    "a" * 5000,
    "ORD-000001",
    "ORD-00001",
]
CODES = [None, None, None, None, "ragged_row", "encoding", "nul_bytes", "Bad Code", "x" * 200, ""]


def _nasty(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.6:
        return rng.choice(NASTY)
    if roll < 0.75:  # a random date or timestamp, often just outside the calendar
        y = rng.choice([0, 1, 2024, 9999, 10000, rng.randint(-50, 12000)])
        text = f"{y:04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
        if rng.random() < 0.5:
            clock = ":".join(f"{rng.randint(0, top):02d}" for top in (24, 60, 61))
            text += f"T{clock}{rng.choice('+-')}{rng.randint(0, 30):02d}:00"
        return text
    if roll < 0.9:
        return str(rng.choice([rng.randint(-(10**20), 10**20), rng.uniform(-1e6, 1e6), rng.randint(0, 20)]))
    points = [rng.randint(1, 0x10FFFF) for _ in range(rng.randint(1, 30))]
    return "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)


def _good(rng: random.Random, type_: str) -> str:
    """A value the contract type accepts, often at an edge (spacing, signs, calendar ends)."""
    pad = rng.choice(["", "", " ", "\t"])
    if type_ == "int64":
        return pad + str(rng.choice([rng.randint(-5, 10**18), 0, 1, 2])) + pad
    if type_ == "int32":
        return pad + rng.choice(["+", ""]) + str(rng.randint(0, 2**31 - 1)) + pad
    if type_ == "float64":
        return pad + rng.choice([repr(rng.uniform(-1e6, 1e6)), "1e3", ".5", "5.", "-0.0", "1e-320"]) + pad
    if type_ == "boolean":
        return pad + rng.choice(["true", "F", "yes", "N", "1", "0", "TRUE"]) + pad
    y, m, d = rng.choice([1, 9999, rng.randint(1, 9999)]), rng.randint(1, 12), rng.randint(1, 28)
    if type_ == "date":
        return pad + f"{y:04d}-{m:02d}-{d:02d}" + pad
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    frac = rng.choice(["", ".5", ".123456", ".123456789"])
    zone = rng.choice(["", "Z", "+00:00", "-00:30", "+0100"]) if 1 < y < 9999 else rng.choice(["", "Z"])
    return pad + f"{y:04d}-{m:02d}-{d:02d}{rng.choice('T ' if not zone else 'T')}{clock}{frac}{zone}" + pad


HOSTILE = make_contract(
    [
        {"name": "key", "type": "string", "nullable": False, "constraints": {"max_length": 40}},
        {"name": "n", "type": "int64", "nullable": False, "constraints": {"min": -5, "max": 10**18}},
        {"name": "small", "type": "int32"},
        {"name": "f", "type": "float64", "constraints": {"max": 1e6}},
        {"name": "b", "type": "boolean"},
        {"name": "d", "type": "date", "constraints": {"min": -719_162}},
        {"name": "t", "type": "timestamp"},
        {"name": "s", "type": "string", "constraints": {"pattern": "^[^\\x00]*$", "unique": True}},
        {"name": "code", "type": "string", "constraints": {"allowed_values": ["ORD-000001", "", "NA", "x"]}},
    ],
    primary_key=["key", "n"],
    extra_columns="drop",
)
TEXT = {"int32": str, "int64": str, "string": str, "boolean": lambda v: "true" if v else "false"}


def _as_text(type_: str, value: object) -> str | None:
    """A bronze value written back as text the contract parses."""
    if value is None:
        return None
    if type_ == "float64":
        return repr(value)
    if type_ in ("date", "timestamp"):
        assert isinstance(value, date | datetime)
        return value.isoformat()
    return TEXT[type_](value)


@pytest.mark.parametrize("seed", range(12))
def test_random_hostile_batches_never_crash_and_every_row_lands_once(seed: int) -> None:
    rng = random.Random(seed)
    names = [c.name for c in HOSTILE.columns]
    batches, texts = [], []
    for _ in range(rng.randint(1, 6)):
        n = rng.choice([0, 1, 7, 50, 200])
        # Repeat earlier keys often, so keys, duplicates and unique values really meet.
        cols = {
            c.name: [_good(rng, c.type) if rng.random() < 0.93 else _nasty(rng) for _ in range(n)]
            for c in HOSTILE.columns
        }
        cols["key"] = [rng.choice(["k1", "k2", "NA", _nasty(rng)]) for _ in range(n)]
        cols["n"] = [rng.choice(["1", "2", " 1", _nasty(rng)]) for _ in range(n)]
        cols["code"] = [rng.choice(["ORD-000001", "", "NA", "x", _nasty(rng)]) for _ in range(n)]
        for i in range(1, n):  # exact repeats of earlier rows: duplicates to count and drop
            if rng.random() < 0.15:
                j = rng.randrange(i)
                for values in cols.values():
                    values[i] = values[j]
        if rng.random() < 0.3:
            del cols["small"]  # an absent nullable column
        typed = {}
        if rng.random() < 0.4:
            typed["_maestro_error"] = pa.array([rng.choice(CODES) for _ in range(n)], pa.string())
            typed["_maestro_raw"] = pa.array(
                [rng.randbytes(rng.randint(0, 20)) for _ in range(n)], pa.large_binary()
            )
        if rng.random() < 0.3:
            typed["noise"] = pa.array([_nasty(rng) for _ in range(n)], pa.string())
        tokens = rng.choice([None, ["NA"], ["", "NA", "null"], []])
        batches.append(text_batch(cols, null_values=tokens, **typed))
        texts += [{name: cols.get(name, [None] * n)[i] for name in names} for i in range(n)]

    valid, rejected, enf = run(HOSTILE, batches, memory_keys=rng.choice([1, 64, 1 << 20]))

    # Every row in exactly one place: bronze, quarantine, or counted as a duplicate.
    placed = [r["_source_row"] for r in valid] + [r["_source_row"] for r in rejected]
    assert len(placed) == len(set(placed)) and set(placed) <= set(range(1, len(texts) + 1))
    assert len(texts) - len(placed) == enf.counts.duplicates
    # Quarantine keeps the original text of every column, null tokens included.
    for r in rejected:
        assert r["_reasons"] and r["_errors"]
        assert {name: r[name] for name in names} == texts[r["_source_row"] - 1]
    # Every bronze value, written back as text, parses to itself (and still keeps the contract).
    if valid:
        again = text_batch({c.name: [_as_text(c.type, r[c.name]) for r in valid] for c in HOSTILE.columns})
        round_trip, refused, _ = run(HOSTILE, [again])
        assert refused == []
        assert [{n: r[n] for n in names} for r in round_trip] == [{n: r[n] for n in names} for r in valid]
    assert json.dumps(enf.counts.reasons)  # the counts go to commit metadata as JSON


def _unchecked_text(values: list[bytes | None], type_: pa.DataType | None = None) -> pa.Array:
    """A text array over raw bytes, unchecked, as pyarrow reads a Parquet string column."""
    type_ = type_ or pa.string()
    data = b"".join(v or b"" for v in values)
    width = np.int64 if type_ == pa.large_string() else np.int32
    offsets = np.cumsum([0] + [len(v or b"") for v in values]).astype(width)
    valid = np.packbits([v is not None for v in values], bitorder="little")
    return pa.Array.from_buffers(
        type_, len(values), [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


@pytest.mark.parametrize("type_", [pa.string(), pa.large_string()])
def test_text_that_is_not_utf8_is_quarantined_as_unreadable_with_its_bytes(type_: pa.DataType) -> None:
    values = [b"ok", b"\xff\xfe", "\u00e9".encode(), b"x\xc3", b"\xa9y", None, b"fine"]
    text = _unchecked_text(values, type_)
    contract = make_contract([{"name": "id", "type": "int64"}, {"name": "s", "type": "string"}])
    batch = pa.RecordBatch.from_arrays([pa.array(range(1, 8)), text], names=["id", "s"])
    valid, rejected, _ = run(contract, [batch])
    assert [(r["id"], r["s"]) for r in valid] == [(1, "ok"), (3, "\u00e9"), (6, None), (7, "fine")]
    assert [(r["id"], r["s"], r["_reasons"], r["_raw"]) for r in rejected] == [
        ("2", None, ["encoding"], b"\xff\xfe"),
        ("4", None, ["encoding"], b"x\xc3"),  # a character split across two values
        ("5", None, ["encoding"], b"\xa9y"),
    ]
    sliced = pa.RecordBatch.from_arrays(
        [pa.array(range(1, 8)), _unchecked_text(values, type_)], names=["id", "s"]
    )
    valid, rejected, _ = run(contract, [sliced.slice(2, 4)])
    assert [r["_source_row"] for r in valid] == [1, 4] and [r["_source_row"] for r in rejected] == [2, 3]


def test_a_row_the_reader_marked_keeps_its_own_code_when_its_text_is_also_not_utf8() -> None:
    contract = make_contract([{"name": "s", "type": "string"}, {"name": "n", "type": "int64"}])
    batch = pa.RecordBatch.from_arrays(
        [
            _unchecked_text([b"\xff", b"\xfe", b"a"]),
            _unchecked_text([b"1", b"2", b"\xc0"]),
            pa.array(["ragged_row", None, None]),
            pa.array([b"\xff,1,extra", None, None], pa.large_binary()),
        ],
        names=["s", "n", "_maestro_error", "_maestro_raw"],
    )
    valid, rejected, _ = run(contract, [batch])
    assert valid == []
    assert [(r["_reasons"], r["_raw"]) for r in rejected] == [
        (["ragged_row"], b"\xff,1,extra"),
        (["encoding"], b"\xfe"),
        (["encoding"], b"\xc0"),
    ]


def test_a_parquet_string_column_with_invalid_bytes_never_reaches_bronze(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"id": pa.array([1, 2, 3]), "s": _unchecked_text([b"a", b"\xff\xfe", b"c"])}), path
    )
    contract = make_contract([{"name": "id", "type": "int64"}, {"name": "s", "type": "string"}])
    valid, rejected, _ = run(contract, pq.ParquetFile(path).iter_batches())
    assert [r["s"] for r in valid] == ["a", "c"]
    assert [(r["id"], r["_reasons"], r["_raw"]) for r in rejected] == [("2", ["encoding"], b"\xff\xfe")]
