"""Ingest of real sample files into real Delta tables: accounting, quarantine, idempotency."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from connectors.csv import CsvSource, CsvSourceConfig
from contracts.loader import load_contracts
from lake.delta import Lake, table_facts
from pipeline.ingest import ingest_object

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())


def _source(path: Path, dataset: str) -> CsvSource:
    return CsvSource(
        CsvSourceConfig.from_dict(
            {
                "name": f"{dataset}_test",
                "dataset": dataset,
                "paths": [str(path)],
                "options": {"null_values": ["", "NA"]},
            }
        )
    )


def _sample_files() -> list[tuple[str, Path]]:
    out = []
    for name, spec in EXPECTED["files"].items():
        path = SAMPLES / name if (SAMPLES / name).exists() else SAMPLES / spec["dataset"] / name
        out.append((name, path))
    return out


@pytest.fixture()
def lake(tmp_path: Path) -> Lake:
    return Lake(root=str(tmp_path / "lake"))


@pytest.mark.parametrize(("name", "path"), _sample_files(), ids=[n for n, _ in _sample_files()])
def test_counts_reconcile_and_match_the_documented_bad_rows(name: str, path: Path, lake: Lake) -> None:
    spec = EXPECTED["files"][name]
    contract = load_contracts()[spec["dataset"]]
    src = _source(path, spec["dataset"])
    result = ingest_object(src, src.discover()[0], contract, lake)

    c = result.counts
    assert result.status == "committed"
    assert c.read == c.valid + c.rejected + c.duplicates
    assert (c.read, c.valid, c.rejected, c.duplicates) == (
        spec["rows_read"],
        spec["valid"],
        spec["quarantined"],
        spec["exact_duplicates"],
    )
    assert table_facts(lake.table_uri("bronze", contract.name))["rows"] == spec["valid"]
    assert table_facts(lake.table_uri("quarantine", contract.name))["rows"] == spec["quarantined"]


@pytest.mark.parametrize(("name", "path"), _sample_files(), ids=[n for n, _ in _sample_files()])
def test_every_bad_row_is_in_quarantine_with_its_reason_and_original_values(
    name: str, path: Path, lake: Lake
) -> None:
    spec = EXPECTED["files"][name]
    contract = load_contracts()[spec["dataset"]]
    src = _source(path, spec["dataset"])
    obj = src.discover()[0]
    ingest_object(src, obj, contract, lake)

    q = DeltaTable(lake.table_uri("quarantine", contract.name)).to_pyarrow_table().to_pylist()
    by_row = {r["_source_row"]: r for r in q}
    lines = path.read_text().splitlines()
    for bad in spec["quarantined_rows"]:
        row = by_row.get(bad["line"] - 1)
        assert row is not None, f"{name} line {bad['line']} ({bad['note']}) is not in quarantine"
        assert bad["reason"] in row["_reasons"], (
            f"line {bad['line']}: {row['_reasons']} lacks {bad['reason']}"
        )
        assert row["_errors"], "a human-readable error is kept"
        assert row["_source_sha256"] == obj.sha256 and row["_source_uri"] == obj.uri
        # The original text is kept verbatim (the first column of the original line).
        first_col = contract.columns[0].name
        original = lines[bad["line"] - 1].split(",")[0]
        assert (row[first_col] or "") == original.strip('"') or row[first_col] is None
    assert len(by_row) == spec["quarantined"]


def test_reingesting_the_same_file_commits_nothing(lake: Lake, tmp_path: Path) -> None:
    contract = load_contracts()["customers"]
    src = _source(SAMPLES / "customers.csv", "customers")
    first = ingest_object(src, src.discover()[0], contract, lake)
    versions = (
        DeltaTable(lake.table_uri("bronze", "customers")).version(),
        DeltaTable(lake.table_uri("quarantine", "customers")).version(),
    )

    again = ingest_object(src, src.discover()[0], contract, lake)
    # The same bytes under another name are the same input too.
    renamed = tmp_path / "customers_copy.csv"
    shutil.copy(SAMPLES / "customers.csv", renamed)
    src2 = _source(renamed, "customers")
    copy = ingest_object(src2, src2.discover()[0], contract, lake)

    assert first.status == "committed"
    assert again.status == copy.status == "already_committed"
    assert again.counts.valid == first.counts.valid  # the recorded counts are reported back
    assert (
        DeltaTable(lake.table_uri("bronze", "customers")).version(),
        DeltaTable(lake.table_uri("quarantine", "customers")).version(),
    ) == versions
    assert table_facts(lake.table_uri("bronze", "customers"))["rows"] == first.counts.valid


def test_a_file_unreadable_halfway_commits_nothing(lake: Lake, tmp_path: Path) -> None:
    contract = load_contracts()["customers"]
    good = (SAMPLES / "customers.csv").read_bytes()
    bad = tmp_path / "customers_bad.csv.gz"
    # Valid rows first, then the gzip stream breaks off: the reader fails after some batches.
    whole = gzip.compress(good * 400)  # ~6 MB: batches are read before the break
    bad.write_bytes(whole[: len(whole) * 3 // 4])
    src = _source(bad, "customers")
    result = ingest_object(src, src.discover()[0], contract, lake, batch_rows=50)

    assert result.status == "failed"
    assert "customers_bad.csv.gz" in (result.error or "") and "gzip" in (result.error or "")
    assert not table_facts(lake.table_uri("bronze", "customers"))["rows"]
    assert not table_facts(lake.table_uri("quarantine", "customers"))["rows"]


def test_columns_that_do_not_fit_the_contract_fail_the_whole_input_with_a_clear_error(
    lake: Lake, tmp_path: Path
) -> None:
    contract = load_contracts()["orders"]
    path = tmp_path / "orders_wrong.csv"
    path.write_text("order_id,customer_id,surprise\nORD-000001,1,x\n")
    src = _source(path, "orders")
    result = ingest_object(src, src.discover()[0], contract, lake)

    assert result.status == "failed"
    assert "orders_wrong.csv" in result.error
    assert "required columns missing" in result.error and "surprise" in result.error
    assert (
        not table_facts(lake.table_uri("bronze", "orders"))["exists"]
        or not table_facts(lake.table_uri("bronze", "orders"))["rows"]
    )


def test_what_a_run_reports_is_what_it_wrote_not_what_the_input_holds(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faults

    contract = load_contracts()["customers"]
    src = _source(SAMPLES / "customers.csv", "customers")
    obj = src.discover()[0]
    # The first attempt commits bronze, then dies before its quarantine commit.
    monkeypatch.setenv("MAESTRO_FAULTS", "ingest.after_bronze_commit=raise")
    faults.reset()
    with pytest.raises(faults.FaultInjected):
        ingest_object(src, obj, contract, lake)
    monkeypatch.delenv("MAESTRO_FAULTS")
    bronze_rows = table_facts(lake.table_uri("bronze", "customers"))["rows"]
    assert bronze_rows > 0

    recovered = ingest_object(src, obj, contract, lake).summary()
    assert recovered["status"] == "committed" and recovered["recovered"] is True
    assert recovered["rows_committed"] == 0  # the killed attempt appended them
    assert recovered["rows_quarantined"] == recovered["input_counts"]["rejected"] > 0
    assert recovered["input_counts"]["valid"] == bronze_rows

    again = ingest_object(src, obj, contract, lake).summary()
    assert again["status"] == "already_committed"
    assert (again["rows_read"], again["rows_committed"], again["rows_quarantined"]) == (0, 0, 0)
    assert again["input_counts"] == recovered["input_counts"]
    assert table_facts(lake.table_uri("bronze", "customers"))["rows"] == bronze_rows


class _Exploding(CsvSource):
    """Reads the file, then fails the way a bug meeting a hostile value would (or a disk would)."""

    def __init__(self, path: Path, error: Exception) -> None:
        config = {"name": "x", "dataset": "customers", "paths": [str(path)]}
        super().__init__(CsvSourceConfig.from_dict(config))
        self.error = error

    def read(self, obj, *, batch_rows=65_536):  # noqa: ANN001, ANN201
        yield from super().read(obj, batch_rows=5)
        raise self.error


def test_an_unexpected_error_while_reading_rejects_that_input_not_the_run(lake: Lake) -> None:
    contract = load_contracts()["customers"]
    src = _Exploding(SAMPLES / "customers.csv", RecursionError("maximum recursion depth exceeded"))
    result = ingest_object(src, src.discover()[0], contract, lake)
    assert result.status == "failed"
    assert "customers.csv: reading and checking it failed unexpectedly: RecursionError" in result.error
    assert table_facts(lake.table_uri("bronze", "customers"))["rows"] == 0


def test_an_environment_failure_while_reading_fails_the_run_to_be_retried(lake: Lake) -> None:
    contract = load_contracts()["customers"]
    src = _Exploding(SAMPLES / "customers.csv", OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        ingest_object(src, src.discover()[0], contract, lake)
    assert table_facts(lake.table_uri("bronze", "customers"))["rows"] == 0
