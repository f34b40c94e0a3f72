"""Null tokens named by the reader (schema metadata ``maestro.null_values``) are nulls in bronze and
in the rules, and their original text in quarantine."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from contracts.exceptions import SchemaMismatchError
from tests.contracts.helpers import by_row, make_contract, run, text_batch

CONTRACT = make_contract(
    [
        {"name": "id", "type": "int64", "nullable": False},
        {"name": "name", "type": "string"},
        {"name": "amount", "type": "float64"},
        {"name": "email", "type": "string", "nullable": False},
        {"name": "at", "type": "timestamp"},
    ],
    primary_key=["id"],
)


def rows(**columns: list[str | None]) -> dict[str, list[str | None]]:
    return columns


def test_a_null_token_is_null_in_bronze_and_its_original_text_in_quarantine() -> None:
    batch = text_batch(
        rows(
            id=["1", "2", "NA", "4"],
            name=["NA", "", "x", " NA"],
            amount=["NA", "1.5", "2", "NA"],
            email=["a@x", "NA", "c@x", "d@x"],
            at=["NA", "2026-01-01T00:00:00Z", None, "NA"],
        ),
        null_values=["NA", ""],
    )
    valid, rejected, enf = run(CONTRACT, [batch])
    assert [(r["id"], r["name"], r["amount"], r["at"]) for r in valid] == [
        (1, None, None, None),
        (4, " NA", None, None),  # tokens are exact texts: " NA" is a value
    ]
    assert [(r["_source_row"], r["_reasons"]) for r in rejected] == [
        (2, ["not_null:email"]),
        (3, ["not_null:id"]),
    ]
    second, third = rejected
    assert (second["name"], second["email"]) == ("", "NA")  # the original text, not null
    assert third["id"] == "NA"
    assert second["_errors"] == "email: required, but 'NA' is a null value of this input"
    assert enf.counts.reasons == {"not_null:email": 1, "not_null:id": 1}


def test_without_the_metadata_nothing_is_a_null_token() -> None:
    batch = text_batch(rows(id=["1"], name=["NA"], amount=["NA"], email=["NA"], at=["NA"]))
    valid, rejected, _ = run(CONTRACT, [batch])
    assert valid == []
    assert rejected[0]["_reasons"] == ["type:amount", "type:at"]
    batch = text_batch(rows(id=["1"], name=["NA"], amount=["1"], email=["NA"], at=[None]))
    valid, _, _ = run(CONTRACT, [batch])
    assert (valid[0]["name"], valid[0]["email"]) == ("NA", "NA")


def test_a_token_first_in_a_timestamp_column_does_not_pick_its_format() -> None:
    batch = text_batch(
        rows(id=["1", "2"], email=["a", "b"], at=["NA", "2026-01-01 10:00:00"]), null_values=["NA"]
    )
    valid, _, _ = run(CONTRACT, [batch])
    assert [r["at"] for r in valid] == [None, datetime(2026, 1, 1, 10, tzinfo=UTC)]


def test_tokens_may_differ_between_batches_and_identical_rows_stay_duplicates() -> None:
    first = text_batch(rows(id=["1"], name=["NA"], email=["a"]), null_values=["NA"])
    second = text_batch(rows(id=["1", "2"], name=["-", "NA"], email=["a", "b"]), null_values=["-"])
    valid, rejected, enf = run(CONTRACT, [first, second])
    assert by_row(valid, rejected, "name") == {1: None, 3: "NA"}
    assert enf.counts.duplicates == 1  # row 2 ("-") is row 1 ("NA"): both null


def test_tokens_do_not_touch_typed_columns() -> None:
    batch = text_batch(rows(id=["1"], email=["a"]), null_values=["0"], amount=pa.array([0.0]))
    valid, _, _ = run(CONTRACT, [batch])
    assert valid[0]["amount"] == 0.0


@pytest.mark.parametrize("raw", [b"NA", b"[1, 2]", b'{"a": 1}', b"\xff", b'"NA"'])
def test_malformed_token_metadata_rejects_the_input_with_a_clear_reason(raw: bytes) -> None:
    batch = text_batch(rows(id=["1"], email=["a"])).replace_schema_metadata({b"maestro.null_values": raw})
    with pytest.raises(SchemaMismatchError, match="file:///in.csv: schema metadata maestro.null_values"):
        run(CONTRACT, [batch])
