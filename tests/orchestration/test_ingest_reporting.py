"""What an ingest run shows: rejected inputs in its checks, no classified value in its event log,
private files on disk, and a summary counted from the lake even when the step crashed."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._serdes import serialize_value

import faults
from config.settings import Settings
from config.sources import load_sources
from contracts.loader import load_contracts
from orchestration.defs.ingest.assets import build_ingest_asset
from orchestration.defs.ingest.checks import INPUTS_CHECK, MASK
from orchestration.home import private_umask
from orchestration.instance import prepare_instance
from orchestration.resources import MaestroResource
from orchestration.summary import lake_versions, summarize

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
GOOD = "orders_2026-11-01.csv"
GARBAGE = "orders_2026-11-09.csv"
HEADERLESS = "orders_headerless.csv"


def _assets(settings: Settings, datasets: list[str]) -> list[dg.AssetsDefinition]:
    contracts = load_contracts(settings.contracts_dir)
    sources = load_sources(settings, datasets=set(contracts))
    return [
        build_ingest_asset(contracts[ds], [s for s in sources if s.dataset == ds])
        for ds in datasets
    ]


def _drop_inputs(settings: Settings) -> Path:
    drop = settings.landing_dir / "drop" / "orders"
    drop.mkdir(parents=True)
    shutil.copy2(SAMPLES / "orders" / GOOD, drop / GOOD)
    (drop / GARBAGE).write_bytes(bytes(range(128, 256)) * 64 + b"\n\xff\xfe;\x00\x81\n")
    lines = (SAMPLES / "orders" / "orders_2026-11-02.csv").read_text().splitlines(keepends=True)
    (drop / HEADERLESS).write_text("".join(lines[1:]))  # its first order stands where the header goes
    old = os.stat(drop / GOOD).st_mtime - 3600  # settled long ago: complete
    for name in (GARBAGE, HEADERLESS):
        os.utime(drop / name, (old, old))
    return drop


@dataclass
class Ingested:
    settings: Settings
    instance: dg.DagsterInstance
    result: Any


@pytest.fixture()
def ingested(settings: Settings) -> Iterator[Ingested]:
    """Customers (CSV export) and a drop folder holding one good, one unreadable and one headerless
    orders file, ingested by one run on a real instance, with the platform's private umask."""
    old = os.umask(0o022)
    private_umask()
    try:
        prepare_instance(settings)
        _drop_inputs(settings)
        with dg.DagsterInstance.get() as instance:
            result = dg.materialize(
                _assets(settings, ["customers", "orders"]),
                instance=instance,
                resources={"maestro": MaestroResource()},
                raise_on_error=False,
            )
            yield Ingested(settings, instance, result)
    finally:
        os.umask(old)


def _check(result: Any, dataset: str, name: str) -> Any:
    (found,) = [
        c for c in result.get_asset_check_evaluations()
        if c.check_name == name and c.asset_key.to_user_string() == f"bronze/{dataset}"
    ]
    return found


def test_an_input_rejected_whole_fails_an_error_check_naming_the_file_and_the_reason(
    ingested: Ingested,
) -> None:
    result = ingested.result
    assert result.success  # the good file was committed; one bad file does not fail the run
    check = _check(result, "orders", INPUTS_CHECK)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert GARBAGE in check.description and "utf-8" in check.description.lower()
    assert HEADERLESS in check.description
    rejected = check.metadata["rejected"].value
    assert sorted(Path(r["input"]).name.split("__")[-1] for r in rejected) == sorted([HEADERLESS, GARBAGE])
    assert all(Path(r["input"]).exists() for r in rejected)  # named where the file really is
    assert check.metadata["inputs_rejected"].value == 2
    accepted = _check(result, "customers", INPUTS_CHECK)
    assert accepted.passed and accepted.description == "all 1 input(s) accepted"


def _classified_values(settings: Settings) -> set[str]:
    """Values of classified (pii, confidential) columns in the inputs: e-mails, names, amounts."""
    contracts = load_contracts(settings.contracts_dir)
    values: set[str] = set()
    for dataset, path in (
        ("customers", SAMPLES / "customers.csv"),
        ("orders", SAMPLES / "orders" / GOOD),
        ("orders", SAMPLES / "orders" / "orders_2026-11-02.csv"),  # the headerless file's rows
    ):
        shown = ("public", "internal")
        hidden = {c.name for c in contracts[dataset].columns if c.classification not in shown}
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for col in hidden:
                    value = (row.get(col) or "").strip()
                    if "@" in value or " " in value or re.fullmatch(r"\d+\.\d\d", value):
                        values.add(value)  # e-mails, names, amounts with cents as written
    assert len(values) > 300
    return values


def test_no_classified_value_reaches_the_event_log_of_the_run(ingested: Ingested) -> None:
    entries = ingested.instance.all_logs(ingested.result.run_id)
    assert len(entries) > 20
    log_text = "\n".join(serialize_value(e) for e in entries)
    values = _classified_values(ingested.settings)
    leaked = sorted(v for v in values if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", log_text))
    assert not leaked, leaked[:10]
    preview = next(
        e.step_materialization_data.materialization.metadata["preview"].value
        for e in ingested.result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "bronze/customers"
    )
    assert preview.count(MASK) >= 10  # email, full_name (pii) and credit_limit (confidential)
    assert "| consumer |" in preview or "| smb |" in preview  # internal values stay readable


def _modes(root: Path) -> tuple[set[int], set[int]]:
    dirs, files = set(), set()
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        (dirs if p.is_dir() else files).add(stat.S_IMODE(p.stat().st_mode))
    return dirs, files


def test_lake_catalog_ledger_keys_and_event_log_are_private(ingested: Ingested) -> None:
    s = ingested.settings
    # (keys: tests/provenance/test_keys.py, created 0600 in a 0700 folder whatever the umask)
    for root in (s.home / "lake", s.home / "ledger", s.dagster_home):
        dirs, files = _modes(root)
        assert dirs == {0o700}, (root, sorted(oct(m) for m in dirs))
        assert files and all(m & 0o077 == 0 for m in files), (root, sorted(oct(m) for m in files))
    assert stat.S_IMODE(s.catalog_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.keys_dir.stat().st_mode) == 0o700


def test_the_summary_counts_from_the_lake_what_a_crashed_step_committed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_instance(settings)
    drop = settings.landing_dir / "drop" / "orders"
    drop.mkdir(parents=True)
    shutil.copy2(SAMPLES / "orders" / GOOD, drop / GOOD)
    before = lake_versions(settings, ["customers", "orders"])
    # The step dies after committing, before it reports anything: the run has no metadata at all.
    faults.reset()
    monkeypatch.setenv("MAESTRO_FAULTS", "orchestration.ingest.after_commit=raise")
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(_assets(settings, ["orders"]), instance=instance,
                                resources={"maestro": MaestroResource()}, raise_on_error=False)
    assert not result.success and not result.get_asset_materialization_events()
    text = "\n".join(summarize(settings, result, before))
    expected = json.loads((SAMPLES / "expected.json").read_text())["files"][f"orders/{GOOD}"]
    assert "Nothing new" not in text
    assert f"Committed {expected['valid']} new rows from 1 new input(s)" in text
    assert f"__{GOOD}: {expected['valid']} committed, {expected['quarantined']} quarantined" in text
    assert "step ingest_orders FAILED" in text and "fault injected" in text, text
    # Run again: the input is committed, the lake has no new commit, and the summary says so.
    monkeypatch.delenv("MAESTRO_FAULTS")
    before = lake_versions(settings, ["customers", "orders"])
    with dg.DagsterInstance.get() as instance:
        again = dg.materialize(_assets(settings, ["orders"]), instance=instance,
                               resources={"maestro": MaestroResource()})
    assert "Nothing new: every input was already committed" in "\n".join(summarize(settings, again, before))


def test_an_unreachable_source_is_retried_in_the_run_then_fails_it_naming_the_source(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.defs.ingest import assets

    monkeypatch.setenv("MAESTRO_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setattr(assets, "UNAVAILABLE_WAIT_S", 0)
    settings = Settings.from_env()
    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(_assets(settings, ["shipments"]), instance=instance,
                                resources={"maestro": MaestroResource()}, raise_on_error=False)
    assert not result.success
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == assets.UNAVAILABLE_RETRIES
    checks = [c for c in result.get_asset_check_evaluations() if c.check_name == INPUTS_CHECK]
    assert len(checks) == 1 + assets.UNAVAILABLE_RETRIES  # each attempt names the source it missed
    assert all(not c.passed and "carrier_shipments_s3" in c.description for c in checks)
    text = "\n".join(summarize(settings, result, lake_versions(settings, ["shipments"])))
    assert "step ingest_shipments FAILED" in text and "unavailable" in text, text
