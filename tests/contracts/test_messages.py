"""Quarantine messages state the rule's bound, list or pattern and name the earlier row of a key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from contracts.keyset import SeenKeys
from tests.contracts.helpers import make_contract, run, text_batch


def errors(columns: list[dict], values: dict[str, list[str | None]], **extra: object) -> list[str]:
    _, rejected, _ = run(make_contract(columns, **extra), [text_batch(values)])
    return [r["_errors"] for r in rejected]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ({"type": "int32", "constraints": {"min": 1, "max": 12}}, "13", "x: '13' is above max 12"),
        ({"type": "int32", "constraints": {"min": 1, "max": 12}}, "0", "x: '0' is below min 1"),
        ({"type": "float64", "constraints": {"max": 1.5}}, "1.51", "x: '1.51' is above max 1.5"),
        ({"type": "float64", "constraints": {"min": -0.5}}, " -1 ", "x: ' -1 ' is below min -0.5"),
        (
            {"type": "date", "constraints": {"min": 19723}},
            "2023-12-31",
            "x: '2023-12-31' is before min 2024-01-01",
        ),
        (
            {"type": "timestamp", "constraints": {"max": 1_704_067_200_000_000}},
            "2024-01-01T00:00:01Z",
            "x: '2024-01-01T00:00:01Z' is after max 2024-01-01T00:00:00+00:00",
        ),
        (
            {"type": "string", "constraints": {"allowed_values": ["EUR", "GBP"]}},
            "eur",
            "x: 'eur' is not one of 'EUR', 'GBP'",
        ),
        (
            {"type": "string", "constraints": {"pattern": "^[A-Z]{2}$"}},
            "de",
            "x: 'de' does not match pattern '^[A-Z]{2}$'",
        ),
        (
            {"type": "string", "constraints": {"min_length": 2}},
            "a",
            "x: 'a' is shorter than min_length 2 (1 character)",
        ),
        (
            {"type": "string", "constraints": {"max_length": 4}},
            "abcde",
            "x: 'abcde' is longer than max_length 4 (5 characters)",
        ),
        ({"type": "int64"}, "1.5", "x: '1.5' is not a whole number in the int64 range"),
        ({"type": "boolean"}, "maybe", "x: 'maybe' is not a boolean (true/false, t/f, yes/no, y/n, 1/0)"),
        ({"type": "int64", "nullable": False}, None, "x: required, but missing"),
    ],
)
def test_each_rule_says_what_it_wanted(column: dict, value: str | None, message: str) -> None:
    assert errors([{"name": "x", **column}], {"x": [value]}) == [message]


def test_long_lists_values_and_odd_characters_give_short_one_line_messages() -> None:
    allowed = [f"code{i:02d}" for i in range(25)]
    (listed,) = errors(
        [{"name": "x", "type": "string", "constraints": {"allowed_values": allowed}}], {"x": ["z"]}
    )
    assert listed == (
        "x: 'z' is not one of 'code00', 'code01', 'code02', 'code03', 'code04', 'code05', 'code06', "
        "'code07', 'code08', 'code09' ... (25 allowed values)"
    )
    huge = "y" * 1_000_000
    (cut,) = errors([{"name": "x", "type": "string", "constraints": {"max_length": 4}}], {"x": [huge]})
    assert cut == f"x: {'y' * 60!r}… (1000000 characters) is longer than max_length 4"
    (odd,) = errors([{"name": "x", "type": "int64"}], {"x": ["1\n\x00\u202e2"]})
    assert "\n" not in odd and odd == "x: '1\\n\\x00\\u202e2' is not a whole number in the int64 range"


def test_duplicate_key_and_unique_name_the_earlier_row_across_batches_and_spilled_keys() -> None:
    contract = make_contract(
        [
            {"name": "a", "type": "string", "nullable": False},
            {"name": "b", "type": "int64", "nullable": False},
            {"name": "email", "type": "string", "constraints": {"unique": True}},
        ],
        primary_key=["a", "b"],
    )
    rows = [(f"k{i}", str(i % 7), f"e{i}") for i in range(40)]
    rows += [("k3", "3", "other"), ("kx", "1", "e5"), ("k30", "2", "e30")]
    batches = [
        text_batch({"a": [r[0] for r in chunk], "b": [r[1] for r in chunk], "email": [r[2] for r in chunk]})
        for chunk in (rows[i : i + 6] for i in range(0, len(rows), 6))
    ]
    for memory_keys in (1, 1 << 20):
        _, rejected, enf = run(contract, batches, memory_keys=memory_keys)
        assert [r["_errors"] for r in rejected] == [
            "primary key (a, b): 'k3', '3' is already used by row 4 of this input, with different values",
            "email: 'e5' is already used by row 6 of this input",
        ]
        assert enf.counts.duplicates == 1


def test_a_key_costs_24_bytes_with_its_first_row_and_a_unique_value_16() -> None:
    keys = np.arange(1000, dtype=np.uint64)
    pk = SeenKeys(value_width=2)
    pk.add(keys, np.zeros((1000, 2), dtype=np.uint64))
    unique = SeenKeys(value_width=1)
    unique.add(keys, np.zeros(1000, dtype=np.uint64))
    assert (pk.memory_bytes, unique.memory_bytes) == (24_000, 16_000)
    found, values = pk.lookup(np.array([5, 5000], dtype=np.uint64))
    assert found.tolist() == [True, False] and values.shape == (2, 2)


def test_a_typed_value_is_quoted_as_text_in_the_message() -> None:
    contract = make_contract([{"name": "n", "type": "int32", "constraints": {"max": 12}}])
    _, rejected, _ = run(contract, [text_batch({}, n=pa.array([13], pa.int64()))])
    assert rejected[0]["_errors"] == "n: '13' is above max 12"
