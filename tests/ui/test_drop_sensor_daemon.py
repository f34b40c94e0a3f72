"""The file-drop sensor under the real Dagster daemon: a file dropped into the folder is ingested
once, with nobody clicking anything; an unreadable file is quarantined and the daemon carries on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

pytestmark = [pytest.mark.slow, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["files"]
SENSOR = "shop_orders_drop_sensor"


def _rows_from(server: Any, layer: str, name: str) -> int:
    """Rows of ``layer``/orders whose source pointer names the dropped file ``name``.

    The pointer is the file's archived copy (``<sha256[:16]>__<name>``) or its claimed path.
    """
    table = DeltaTable(str(server.home / "lake" / layer / "orders")).to_pyarrow_table(columns=["_source_uri"])
    names = [uri.rsplit("/", 1)[-1] for uri in table.column("_source_uri").to_pylist()]
    return sum(1 for n in names if n == name or n.endswith(f"__{name}"))


def _drop(server: Any, name: str, data: bytes) -> Path:
    """Write as ``<name>.part``, then rename: the way the README tells a producer to drop a file."""
    server.drop_folder.mkdir(parents=True, exist_ok=True)
    part = server.drop_folder / f"{name}.part"
    part.write_bytes(data)
    final = server.drop_folder / name
    os.rename(part, final)
    return final


def _wait_for_path(pattern: str, folder: Path, *, timeout: float = 120.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"nothing matching {pattern} in {folder} after {timeout:.0f} s: "
                         f"{sorted(str(p.relative_to(folder)) for p in folder.rglob('*'))}")


def _ticks_after(server: Any, timestamp: float, count: int, *, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait until the sensor has ticked ``count`` more times after ``timestamp``; those ticks."""
    deadline = time.monotonic() + timeout
    while True:
        later = [t for t in server.sensor_ticks(SENSOR) if t["timestamp"] > timestamp]
        if len(later) >= count:
            return later
        if time.monotonic() > deadline:
            raise AssertionError(f"{SENSOR} ticked {len(later)} times in {timeout:.0f} s, expected {count}")
        time.sleep(1.0)


def test_a_dropped_file_is_ingested_by_exactly_one_run_and_archived(
    dagster_dev: Any, lake_built: str
) -> None:
    server = dagster_dev
    name = "orders_2026-11-01.csv"
    data = (SAMPLES / "orders" / name).read_bytes()
    _drop(server, name, data)

    runs = server.wait_for_runs(tags={"maestro/file": name})
    assert len(runs) == 1, runs
    run = runs[0]
    assert run["status"] == "SUCCESS", server.run_errors(run["runId"])
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["maestro/source"] == "shop_orders_drop"
    assert tags["maestro/sha256"] == hashlib.sha256(data).hexdigest()
    assert tags["dagster/sensor_name"] == SENSOR
    assert {"bronze/orders", "quarantine/orders", "marts/customer_revenue", "catalog/duckdb"} <= {
        "/".join(a["path"]) for a in run["assetSelection"]}

    # The file left the drop folder for the archive, unchanged, with its manifest beside it.
    assert not (server.drop_folder / name).exists()
    archived = list((server.drop_folder / "_archive").rglob(f"*__{name}"))
    assert len(archived) == 1 and archived[0].read_bytes() == data
    manifest = json.loads(archived[0].with_name(archived[0].name + ".manifest.json").read_text())
    assert manifest["original_name"] == name

    # Every row is in one place: the valid ones in bronze, the bad ones in quarantine.
    assert _rows_from(server, "bronze", name) == EXPECTED[f"orders/{name}"]["valid"]
    assert _rows_from(server, "quarantine", name) == EXPECTED[f"orders/{name}"]["quarantined"]
    mat = server.latest_materialization(["bronze", "orders"])
    assert mat["runId"] == run["runId"]
    assert mat["metadata"]["rows_committed"] == EXPECTED[f"orders/{name}"]["valid"]

    # More ticks of the running sensor request nothing more for the same file.
    ticks = _ticks_after(server, run["endTime"], 3)
    assert all(not t["runIds"] for t in ticks), ticks
    assert len(server.runs(tags={"maestro/file": name})) == 1


def test_an_unreadable_file_is_quarantined_and_the_daemon_keeps_ingesting(
    dagster_dev: Any, lake_built: str
) -> None:
    server = dagster_dev
    garbage = "orders_2026-11-09.csv"
    junk = bytes(range(128, 256)) * 64 + b"\n\xff\xfe;\x00\x81\n"  # no UTF-8 anywhere
    _drop(server, garbage, junk)

    # Rejected whole: moved to the quarantine folder with an error report beside it.
    quarantined = _wait_for_path(f"*__{garbage}", server.drop_folder / "_quarantine")
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == junk
    report = json.loads(_wait_for_path(f"*__{garbage}.error.json", server.drop_folder / "_quarantine")[0]
                        .read_text())
    assert report["file"] == garbage and report["sha256"] == hashlib.sha256(junk).hexdigest()
    assert "utf-8" in report["error"].lower() and report["dataset"] == "orders"

    # A later good file is still picked up by the same daemon.
    good = "orders_2026-11-03.csv"
    _drop(server, good, (SAMPLES / "orders" / good).read_bytes())

    bad_runs = server.wait_for_runs(tags={"maestro/file": garbage})
    assert len(bad_runs) == 1
    # One bad input does not fail the run; the run's log names the file and the reason.
    assert bad_runs[0]["status"] == "SUCCESS", server.run_errors(bad_runs[0]["runId"])
    errors = server.run_errors(bad_runs[0]["runId"])
    assert any(garbage in e and "utf-8" in e.lower() for e in errors), errors
    assert not (server.drop_folder / garbage).exists()
    assert _rows_from(server, "bronze", garbage) == 0 and _rows_from(server, "quarantine", garbage) == 0

    good_runs = server.wait_for_runs(tags={"maestro/file": good})
    assert [r["status"] for r in good_runs] == ["SUCCESS"], server.run_errors(good_runs[0]["runId"])
    assert _rows_from(server, "bronze", good) == EXPECTED[f"orders/{good}"]["valid"]
    assert list((server.drop_folder / "_archive").rglob(f"*__{good}"))
    assert server.alive()
    health = server.daemons_healthy()
    assert health["SENSOR"] and health["QUEUED_RUN_COORDINATOR"], health
