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


def _orders(first: int, rows: int) -> bytes:
    """An export of ``rows`` valid orders with keys from ``first`` (none of the samples' keys)."""
    lines = ["order_id,customer_id,ordered_at,amount,currency,status,quantity"]
    lines += [f"ORD-{first + i:06d},{1001 + i % 200},2026-11-04T10:{i % 60:02d}:00Z,{i % 97}.25,EUR,paid,1"
              for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _tick_texts(server: Any, since: float) -> list[str]:
    """What the sensor's ticks since ``since`` said: skip reasons and log lines (as the UI shows)."""
    location, repo = server.location()
    data = server.graphql(
        "query S($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename ... on Sensor { "
        "sensorState { ticks(limit: 50) { timestamp skipReason logEvents { events { message } } } } } } }",
        {"s": {"repositoryLocationName": location, "repositoryName": repo, "sensorName": SENSOR}},
    )
    out = []
    for t in data["sensorOrError"]["sensorState"]["ticks"]:
        if t["timestamp"] >= since:
            out += [t["skipReason"] or ""] + [e["message"] for e in t["logEvents"]["events"]]
    return out


def test_a_stranded_file_is_ingested_a_link_quarantined_unread_and_ignored_files_reported(
    dagster_dev: Any, lake_built: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    server = dagster_dev
    started = time.time()
    # A run claimed this export and was SIGKILLed right after: its claim is left in _processing/.
    # (Its name in capitals: a *.csv file like any other.)
    name = "ORDERS_2026-11-04.CSV"
    data = _orders(900_001, 120)
    staged = tmp_path / name
    staged.write_bytes(data)
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            "from connectors.file_drop import DropFolder, FileDropConfig\n"
            f"DropFolder(FileDropConfig(name='d', dataset='orders', folder={str(server.drop_folder)!r}))"
            f".claim({str(staged)!r})")
    env = {**os.environ, "MAESTRO_FAULTS": "drop.after_claim=kill"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == -9
    assert list((server.drop_folder / "_processing").rglob(name))
    # A link to a file outside the folder (valid rows: following it would commit them), and a file
    # that matches no pattern.
    secret = tmp_path / "secret.csv"
    secret.write_bytes(_orders(920_001, 50))
    os.symlink(secret, server.drop_folder / "orders_2026-11-05.csv")
    _drop(server, "notes.txt", b"not an export\n")

    # The stranded file is requested again and ingested once, archived whole.
    runs = server.wait_for_runs(tags={"maestro/file": name})
    assert [r["status"] for r in runs] == ["SUCCESS"], server.run_errors(runs[0]["runId"])
    archived = _wait_for_path(f"*/*__{name}", server.drop_folder / "_archive")
    assert len(archived) == 1 and archived[0].read_bytes() == data
    assert not list((server.drop_folder / "_processing").rglob(name))
    assert _rows_from(server, "bronze", name) == 120

    # The link is quarantined unread (the link itself, with the reason); nothing of the secret is read.
    report = _wait_for_path("symlink__orders_2026-11-05.csv.error.json", server.drop_folder / "_quarantine")
    assert "symbolic link" in json.loads(report[0].read_text())["error"]
    assert os.readlink(server.drop_folder / "_quarantine" / "symlink__orders_2026-11-05.csv") == str(secret)
    assert _rows_from(server, "bronze", "orders_2026-11-05.csv") == 0
    assert _rows_from(server, "bronze", "secret.csv") == 0

    # The file it will never ingest is reported in a tick, visible in the UI, once.
    deadline = time.monotonic() + 60
    while not any("notes.txt" in t for t in _tick_texts(server, started)):
        assert time.monotonic() < deadline, _tick_texts(server, started)
        time.sleep(1.0)
    _ticks_after(server, time.time(), 2)
    mentions = [t for t in _tick_texts(server, started) if "notes.txt" in t and "matches none" in t]
    assert 1 <= len(mentions) <= 2 and len(set(mentions)) == len(mentions)  # its log line (+ skip reason)
    assert (server.drop_folder / "notes.txt").exists()  # reported, never moved
