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


def _problems(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "things.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(ContractLoadError) as info:
        load_contract(path)
    message = str(info.value)
    assert message.startswith(f"invalid contract {path}:")
    return [line.strip() for line in message.splitlines()[1:]]


@pytest.mark.parametrize(
    ("replace", "by", "field"),
    [
        ("name: things", 'name: "things\\n"', "name"),
        ("version: 1.0.0", 'version: "1.0.0\\n"', "version"),
        ("{name: id,", '{name: "id\\n",', "columns[0].name"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_name(
    tmp_path: Path, replace: str, by: str, field: str
) -> None:
    problems = _problems(tmp_path, GOOD.replace(replace, by))
    assert any(p.startswith(f"{field}:") for p in problems), problems


@pytest.mark.parametrize(
    ("pattern", "engines"),
    [
        ("(?=x)", ["polars (Rust regex, contract enforcement)", "DuckDB (RE2, contract checks)"]),
        ("(a)\\1", ["polars (Rust regex, contract enforcement)", "DuckDB (RE2, contract checks)"]),
        ("a++", ["DuckDB (RE2, contract checks)"]),
        ("(?x) a b", ["DuckDB (RE2, contract checks)"]),
        ("\\p{Greek}", ["Python re (Great Expectations validation)"]),
        (
            "\\w{1000}{1000}",
            [
                "Python re (Great Expectations validation)",
                "polars (Rust regex, contract enforcement)",
                "DuckDB (RE2, contract checks)",
            ],
        ),
    ],
)
def test_a_pattern_any_engine_that_runs_it_refuses_is_refused_at_load_with_that_engines_words(
    tmp_path: Path, pattern: str, engines: list[str]
) -> None:
    (problem,) = _problems(tmp_path, GOOD.replace("'^[a-z]+$'", f"'{pattern}'"))
    assert problem.startswith("columns[1].constraints.pattern: pattern")
    named = [e for e in ("Python re", "polars", "DuckDB") if f"{e} (" in problem]
    assert named == [e.split(" (")[0] for e in engines], problem
    assert len(problem) < 1500


@pytest.mark.parametrize("bound", [".nan", ".NaN", ".inf", "-.inf", "1e400", "'nan'", "true"])
def test_a_bound_that_is_not_a_finite_number_is_refused(tmp_path: Path, bound: str) -> None:
    text = GOOD.replace(
        "{name: id, type: int64, nullable: false}",
        f"{{name: id, type: int64, nullable: false, constraints: {{min: {bound}}}}}",
    )
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith("columns[0].constraints.min:"), problem


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        ("{name: d, type: date, constraints: {min: 19723.5}}", "whole number of days"),
        ("{name: d, type: date, constraints: {max: 2932897}}", "between -719162 and 2932896"),
        ("{name: t, type: timestamp, constraints: {min: -62135596800000001}}", "microseconds"),
        ("{name: s, type: string, source_name: _maestro_error}", "reserved prefix"),
        ("{name: s, type: string, source_name: __t_id}", "reserved prefix"),
        ("{name: s, type: string, constraints: {min_length: -1}}", "greater than or equal to 0"),
        ("{name: s, type: string, constraints: {min_length: 5, max_length: 2}}", "greater than max_length"),
    ],
)
def test_bounds_and_source_names_that_would_fail_every_run_are_refused(
    tmp_path: Path, column: str, problem: str
) -> None:
    problems = _problems(tmp_path, GOOD + f"  - {column}\n")
    assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("columns[2]"), problems


def test_date_and_timestamp_bounds_at_the_calendar_ends_load(tmp_path: Path) -> None:
    path = tmp_path / "things.yaml"
    path.write_text(
        GOOD + "  - {name: d, type: date, constraints: {min: -719162, max: 2932896}}\n"
        "  - {name: t, type: timestamp, constraints: {max: 253402300799999999}}\n"
    )
    contract = load_contract(path)
    assert contract.column("t").constraints.max == 253_402_300_799_999_999  # exact, not a float


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    assert "not valid UTF-8" in _problems(tmp_path, b"name: th\xffings\n")[0]
    path = tmp_path / "dir.yaml"
    path.mkdir()
    with pytest.raises(ContractLoadError, match="cannot be read"):
        load_contract(path)
    too_long = GOOD.replace(
        "description: Things.", "description: Things.\nfreshness: {max_lag: 99999999999999d}"
    )
    assert "too long a duration" in " ".join(_problems(tmp_path, too_long))
