"""Loading contracts: the shipped ones load; invalid ones fail naming file, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.exceptions import ContractLoadError
from contracts.loader import load_contract, load_contracts

GOOD = """
name: things
version: 1.0.0
owner: team@example.com
description: Things.
primary_key: [id]
columns:
  - {name: id, type: int64, nullable: false}
  - {name: label, type: string, constraints: {pattern: '^[a-z]+$'}}
"""


def test_every_shipped_contract_loads() -> None:
    contracts = load_contracts()
    assert {"customers", "orders"} <= set(contracts)
    assert contracts["orders"].primary_key == ["order_id"]


@pytest.mark.parametrize(
    ("replace", "by", "field", "problem"),
    [
        ("type: int64", "type: integer", "columns[0].type", "Input should be"),
        ("version: 1.0.0", "version: one", "version", "MAJOR.MINOR.PATCH"),
        ("primary_key: [id]", "primary_key: [nope]", "(top level)", "not a column"),
        ("'^[a-z]+$'", "'^[a-z+$'", "columns[1].constraints.pattern", "not a valid regular expression"),
        ("owner: team@example.com\n", "", "owner", "required field is missing"),
        ("description: Things.", "description: Things.\ncolour: red", "colour", "unknown field"),
        (
            "{name: id, type: int64, nullable: false}",
            "{name: id, type: int64, nullable: true}",
            "(top level)",
            "must be nullable: false",
        ),
    ],
)
def test_an_invalid_contract_names_the_file_the_field_and_the_problem(
    tmp_path: Path, replace: str, by: str, field: str, problem: str
) -> None:
    path = tmp_path / "things.yaml"
    assert replace in GOOD
    path.write_text(GOOD.replace(replace, by))
    with pytest.raises(ContractLoadError) as info:
        load_contract(path)
    message = str(info.value)
    assert str(path) in message
    assert any(line.strip().startswith(f"{field}:") and problem in line for line in message.splitlines()), (
        message
    )


def test_a_contract_must_be_named_like_its_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(GOOD)
    with pytest.raises(ContractLoadError, match="must match the file name 'other'"):
        load_contract(path)


def test_a_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "things.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ContractLoadError, match="not valid YAML"):
        load_contract(path)
