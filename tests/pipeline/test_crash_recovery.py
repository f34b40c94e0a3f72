"""Exactly-once ingest: kill the process mid-commit, re-run, and every row is in one place once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.csv import CsvSource, CsvSourceConfig
from contracts.enforce import Enforcer, InputContext, bronze_schema
from contracts.loader import load_contracts
from lake.delta import Lake, append_idempotent, table_facts
from pipeline.ingest import app_id_for, ingest_object

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
sys.path.insert(0, {repo!r})
from connectors.csv import CsvSource, CsvSourceConfig
from contracts.loader import load_contracts
from lake.delta import Lake
from pipeline.ingest import ingest_object
src = CsvSource(CsvSourceConfig(name="crash", dataset="orders", paths=[{path!r}]))
print("ready", flush=True)
ingest_object(src, src.discover()[0], load_contracts()["orders"], Lake(root={lake!r}), batch_rows=2000)
print("done", flush=True)
"""


def _orders_csv(path: Path, rows: int) -> int:
    """Write an orders file with every 50th row invalid; return the number of valid rows."""
    lines = ["order_id,customer_id,ordered_at,amount,currency,status,quantity"]
    valid = 0
    for i in range(1, rows + 1):
        amount = "oops" if i % 50 == 0 else f"{i % 997}.25"
        valid += i % 50 != 0
        lines.append(
            f"ORD-{i:06d},{1000 + i % 300},2026-11-01T10:{i % 60:02d}:00Z,{amount},EUR,paid,{1 + i % 5}"
        )
    path.write_text("\n".join(lines) + "\n")
    return valid


def _source(path: Path) -> CsvSource:
    return CsvSource(CsvSourceConfig(name="crash", dataset="orders", paths=[str(path)]))


@pytest.mark.slow
def test_killing_the_ingest_at_random_moments_then_rerunning_commits_every_row_once(tmp_path: Path) -> None:
    path = tmp_path / "orders_big.csv"
    total = 300_000
    valid = _orders_csv(path, total)
    lake_root = str(tmp_path / "lake")

    def start(lake: str) -> subprocess.Popen[str]:
        code = CHILD.format(repo=str(REPO), path=str(path), lake=lake)
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    # Calibrate: how long does the ingest itself take here (after the imports), into a throwaway lake?
    calibration = start(str(tmp_path / "calibration"))
    t0 = time.perf_counter()
    calibration.wait()
    ingest_s = time.perf_counter() - t0
    rng = random.Random(11)
    kills = 0
    for _ in range(4):
        proc = start(lake_root)
        # Anywhere from reading the input to committing: early, mid-stream, mid-commit.
        time.sleep(rng.uniform(0.05, 0.95) * ingest_s)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    # Whatever the kills left behind, one more complete run must end with every row once.
    src = _source(path)
    result = ingest_object(src, src.discover()[0], load_contracts()["orders"], Lake(root=lake_root))
    lake = Lake(root=lake_root)
    assert result.status in ("committed", "already_committed")
    assert table_facts(lake.table_uri("bronze", "orders"))["rows"] == valid
    assert table_facts(lake.table_uri("quarantine", "orders"))["rows"] == total - valid
    assert kills >= 1, "the test must actually kill at least one run"


def test_a_crash_between_the_bronze_and_quarantine_commits_is_repaired_without_duplicates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.csv"
    valid = _orders_csv(path, 500)
    contract = load_contracts()["orders"]
    lake = Lake(root=str(tmp_path / "lake"))
    src = _source(path)
    obj = src.discover()[0]
    # Simulate the first attempt: bronze committed under the input's app id, then the process died.
    from connectors.base import Manifest

    manifest = Manifest(source="crash", kind="csv", dataset="orders", objects=(obj,))
    enf = Enforcer(contract, context=InputContext(manifest.id, obj.uri, obj.sha256, None))
    batches = [enf.process(b).valid for b in src.read(obj)]
    append_idempotent(
        lake.table_uri("bronze", "orders"),
        batches,
        schema=bronze_schema(contract),
        app_id=app_id_for("orders", manifest),
    )

    result = ingest_object(src, obj, contract, lake)

    assert result.status == "committed"
    assert result.bronze is not None and not result.bronze.committed  # bronze was not written twice
    assert table_facts(lake.table_uri("bronze", "orders"))["rows"] == valid
    assert table_facts(lake.table_uri("quarantine", "orders"))["rows"] == 500 - valid
