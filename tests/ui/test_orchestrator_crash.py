"""A crashed orchestrator recovers: SIGKILL of daemon, code server and run workers mid-run, twice,
ends with every dropped file ingested exactly once and no run left unfinished.

Real processes throughout: ``maestro ui`` as ``make ui`` starts it (supervisor, code server,
daemon with the real file-drop sensor, webserver) on a temporary home. Every process traces the
fault points it reaches (``MAESTRO_FAULTS_TRACE``), so each kill is recorded with where it landed:
the last point the killed run worker had reached, and what each run and file was doing.

1. Three order files are dropped. When a run worker has entered its ingest step, the worker, the
   daemon and the code server are killed; the supervisor survives and restarts the daemon and the
   code server.
2. When a worker has committed its input (``orchestration.ingest.after_commit``), everything is
   killed, supervisor included (a machine crash), and ``maestro ui`` is started again.

Recovery is Dagster's run monitoring (the worker's pid is gone: the run is marked failed) and run
retries (the failed run is re-executed from its failure), with the timings shortened in this
instance's ``dagster.yaml`` (poll every 2 s); the shipped defaults are in
``orchestration/instance.py``. Runs are queued one at a time here, so that each kill lands at the
moment chosen for it (a worker killed while it holds a claimed drop file is the drop folder's own
recovery test). Generous timeouts; nothing here asserts a duration.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from deltalake import DeltaTable

from tests.ui.conftest import (
    REPO,
    SAMPLES,
    TERMINAL,
    DagsterDev,
    _free_port,
    _server_env,
    _stop,
    _wait_until_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.network, pytest.mark.timeout(1500)]

EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["files"]
FILES = ["orders_2026-11-01.csv", "orders_2026-11-02.csv", "orders_2026-11-03.csv"]
CONVERGE_TIMEOUT_S = 900.0
TEST_MONITORING = (
    "telemetry:\n  enabled: false\n"
    "run_monitoring:\n  poll_interval_seconds: 2\n  start_timeout_seconds: 90\n"
    "run_queue:\n  max_concurrent_runs: 1\n"
)


def _start(home: Path, port: int, log: Path) -> DagsterDev:
    env = {**_server_env(home), "MAESTRO_FAULTS_TRACE": "1",
           "MAESTRO_FAULTS_LOG": str(home.parent / "faults.log")}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "ui", "--no-sandbox", "--port", str(port)],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterDev(url=f"http://127.0.0.1:{port}", home=home, log_path=log, proc=proc)
    _wait_until_ready(server)
    return server


def _traces(home: Path) -> list[dict[str, Any]]:
    try:
        lines = (home.parent / "faults.log").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _roles(home: Path) -> dict[str, list[int]]:
    """The platform's processes on ``home``, by role."""
    roles: dict[str, list[int]] = {}
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE or p.environ().get("MAESTRO_HOME") != str(home):
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        role = (
            "daemon" if "dagster._daemon" in cmd
            else "code server" if "code-server" in cmd or " api grpc" in cmd
            else "webserver" if "orchestration.webserver" in cmd
            else "supervisor" if "orchestration.cli ui" in cmd
            else "run worker" if "spawn_main" in cmd
            else "other"
        )
        roles.setdefault(role, []).append(p.pid)
    return roles


def _files(server: DagsterDev) -> dict[str, str]:
    """Where each dropped file is: the drop folder, claimed, archived, quarantined or nowhere."""
    drop = server.drop_folder
    out = {}
    for name in FILES:
        if (drop / name).exists():
            out[name] = "in the drop folder"
        elif list((drop / "_processing").rglob(name)) if (drop / "_processing").exists() else []:
            out[name] = "claimed (_processing)"
        elif list((drop / "_archive").rglob(f"*__{name}")) if (drop / "_archive").exists() else []:
            out[name] = "archived"
        elif list((drop / "_quarantine").rglob(f"*__{name}")) if (drop / "_quarantine").exists() else []:
            out[name] = "quarantined"
        else:
            out[name] = "missing"
    return out


def _wait_for_point(home: Path, point: str, seen: int, *, timeout: float = 600.0) -> dict[str, Any]:
    """The first trace of ``point`` after the first ``seen`` trace lines, by a live process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t in _traces(home)[seen:]:
            if t["point"] == point and psutil.pid_exists(t["pid"]):
                return t
        time.sleep(0.01)
    raise AssertionError(f"no process reached {point} within {timeout:.0f} s: {_traces(home)[-5:]}")


def _kill_at(server: DagsterDev, point: str, roles: list[str], kills: list[dict[str, Any]]) -> None:
    """When a run worker reaches ``point``, SIGKILL it and every process in ``roles`` at once;
    record each kill and where it landed (the worker's last traced point, runs, files)."""
    seen = len(_traces(server.home))
    hit = _wait_for_point(server.home, point, seen)
    os.kill(hit["pid"], signal.SIGKILL)  # at once: the worker must not run past the point
    by_role = _roles(server.home)
    # Children before the supervisor: a killed supervisor would have them stopped gently first.
    others = [(role, pid) for role in roles for pid in by_role.get(role, []) if pid != hit["pid"]]
    victims = [("run worker", hit["pid"]), *others]
    for _, pid in others:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    files = _files(server)
    try:
        runs = {r["runId"][:8]: r["status"] for r in server.runs()}
    except Exception as err:  # the webserver may be among the victims
        runs = {"unavailable": str(err).splitlines()[0][:200]}
    traces = _traces(server.home)
    for role, pid in victims:
        last = [t["point"] for t in traces if t["pid"] == pid]
        kills.append({"at": point, "role": role, "pid": pid, "last_point": last[-1] if last else None,
                      "hit": pid == hit["pid"], "runs": runs, "files": files})


def _settled(server: DagsterDev) -> tuple[bool, str]:
    runs = server.runs()
    busy = [r for r in runs if r["status"] not in TERMINAL]
    files = _files(server)
    done = not busy and all(v == "archived" for v in files.values())
    return done, f"runs {[(r['runId'][:8], r['status']) for r in runs]}, files {files}"


def _rows_by_file(home: Path, layer: str) -> dict[str, list[str]]:
    table = DeltaTable(str(home / "lake" / layer / "orders")).to_pyarrow_table(
        columns=["_source_uri", "order_id"]
    )
    out: dict[str, list[str]] = {}
    uris, keys = table.column("_source_uri").to_pylist(), table.column("order_id").to_pylist()
    for uri, key in zip(uris, keys, strict=True):
        out.setdefault(uri.rsplit("/", 1)[-1].split("__")[-1], []).append(key)
    return out


def _valid_keys(name: str) -> set[str]:
    """The order ids of ``name``'s valid rows: every row's id but those of rows the sample quarantines
    (a ``duplicate_key`` row shares its id with the valid row it repeats)."""
    with open(SAMPLES / "orders" / name, newline="") as f:
        keys = [row["order_id"] for row in csv.DictReader(f)]
    quarantined = EXPECTED[f"orders/{name}"].get("quarantined_rows", [])
    bad = {str(q["key"]) for q in quarantined if q["reason"] != "duplicate_key"}
    return {k for k in keys if k not in bad}


def test_killing_daemon_code_server_and_run_workers_mid_run_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "maestro"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(TEST_MONITORING)  # completed by maestro ui on start
    port, log = _free_port(), tmp_path / "maestro-ui.log"
    kills: list[dict[str, Any]] = []
    server = _start(home, port, log)
    try:
        server.drop_folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:  # old mtimes: complete files, picked up on the sensor's next tick
            shutil.copy2(SAMPLES / "orders" / name, server.drop_folder / name)

        # 1. A worker enters its ingest step: kill it, the daemon and the code server.
        _kill_at(server, "orchestration.ingest.start", ["daemon", "code server"], kills)
        assert server.alive(), server.log_tail()  # the supervisor restarts what died

        # 2. A worker has committed its input: the machine "crashes" (everything), then restarts.
        _kill_at(server, "orchestration.ingest.after_commit",
                 ["run worker", "daemon", "code server", "webserver", "supervisor"], kills)
        _stop(server.proc, home)
        server = _start(home, port, log)

        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        done, state = _settled(server)
        while not done and time.monotonic() < deadline:
            time.sleep(2.0)
            done, state = _settled(server)
        record = json.dumps(kills)
        assert done, f"not converged in {CONVERGE_TIMEOUT_S:.0f} s: {state}\n{record}\n{server.log_tail()}"

        # Every kill was recorded where it landed; the killed workers' runs failed and were retried.
        hits = [k for k in kills if k["hit"]]
        assert len(hits) == 2 and all(k["last_point"] for k in hits), record
        for at in ("orchestration.ingest.start", "orchestration.ingest.after_commit"):
            assert {"daemon", "code server"} <= {k["role"] for k in kills if k["at"] == at}, record
        runs = server.runs()
        assert not [r for r in runs if r["status"] not in TERMINAL], runs
        retried = [r for r in runs if any(t["key"] == "dagster/retry_number" for t in r["tags"])]
        assert retried, f"no run was retried: {runs}\nkills: {record}"

        # Exactly once: bronze holds each file's valid keys once, the quarantine its bad rows once.
        bronze, quarantine = _rows_by_file(home, "bronze"), _rows_by_file(home, "quarantine")
        for name in FILES:
            keys = bronze.get(name, [])
            assert len(keys) == len(set(keys)) == EXPECTED[f"orders/{name}"]["valid"], (name, record)
            assert set(keys) == _valid_keys(name), name
            assert len(quarantine.get(name, [])) == EXPECTED[f"orders/{name}"]["quarantined"], (name, record)
        assert set(bronze) == set(FILES)
        print("kills:", record)  # noqa: T201 - the record of where each kill landed, in the test log
    finally:
        _stop(server.proc, home)
