"""The real Dagster UI for end-to-end tests: ``maestro ui`` (code server, daemon, webserver) and Chromium.

One server serves the whole session (it takes ~25 s to start on 2 cores). It is started the way
``make ui`` starts it (``python -m orchestration.cli ui``: a supervisor starting the code server,
the daemon and the Host-guarded webserver, see ``orchestration/services.py``), with
``MAESTRO_HOME`` in a temporary folder: its own lake, catalog, drop folder and Dagster instance
(``$MAESTRO_HOME/dagster``, SQLite; the ``dagster.yaml`` written here is completed with run
monitoring and retries on start). It runs in its own process group; teardown interrupts the group
as Ctrl-C would, then kills whatever is left, also when a test failed or the server never came up.

The sources these tests do not exercise (the S3 bucket, the catalogue API) point at a closed
loopback port, so their sensor and schedule fail at once on loopback and never reach for a real
endpoint (nor for cloud instance metadata).

The browser is Debian's Chromium driven by Playwright (the wheel ships its own driver; no browser
is downloaded). Tests that use it are skipped when Chromium is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
STARTUP_TIMEOUT_S = 150.0
RUN_TIMEOUT_S = 150.0
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# Asset key prefixes built from the lake by dbt and the catalog asset (see orchestration/defs/).
BUILT_GROUPS = ("seeds", "staging", "marts", "catalog")
# Nothing listens on the discard port: a client pointed there is refused at once, on loopback.
CLOSED_LOOPBACK = "http://127.0.0.1:9"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ServerError(RuntimeError):
    """The Dagster server did not come up, or did not answer as expected; carries its log tail."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DagsterDev:
    """A running ``maestro ui`` and the GraphQL calls the tests make against it."""

    url: str
    home: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    _location: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def drop_folder(self) -> Path:
        return self.home / "landing" / "drop" / "orders"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL request (10 s timeout, 3 attempts on connection errors); its ``data``."""
        last: Exception | None = None
        for attempt in range(3):
            try:
                resp = httpx.post(
                    f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=10.0
                )
                break
            except httpx.TransportError as err:
                last = err
                time.sleep(0.5 * (attempt + 1))
        else:
            raise ServerError(f"GraphQL at {self.url} unreachable: {last}\n{self.log_tail()}") from last
        body = resp.json()
        if resp.status_code != 200 or body.get("errors"):
            raise ServerError(f"GraphQL error {resp.status_code}: {body.get('errors')}")
        return body["data"]

    def location(self) -> tuple[str, str]:
        """(code location name, repository name) of the project's definitions."""
        if self._location is None:
            data = self.graphql(
                "{ repositoriesOrError { __typename ... on RepositoryConnection "
                "{ nodes { name location { name } } } } }"
            )
            nodes = data["repositoriesOrError"].get("nodes") or []
            if len(nodes) != 1:
                raise ServerError(f"expected one repository, got {data}")
            self._location = (nodes[0]["location"]["name"], nodes[0]["name"])
        return self._location

    def runs(self, *, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Runs (newest first), optionally only those carrying every tag in ``tags``."""
        filt = {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        data = self.graphql(
            "query R($f: RunsFilter) { runsOrError(filter: $f) { __typename ... on Runs { results "
            "{ runId status jobName startTime endTime tags { key value } assetSelection { path } } } } }",
            {"f": filt},
        )
        return data["runsOrError"]["results"]

    def run_errors(self, run_id: str) -> list[str]:
        """The error messages a run logged (for failure reports)."""
        data = self.graphql(
            "query L($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events { "
            "__typename ... on MessageEvent { message level } "
            "... on ExecutionStepFailureEvent { error { message } } } } } }",
            {"id": run_id},
        )
        events = data["logsForRun"].get("events") or []
        out = []
        for e in events:
            if e.get("error"):
                out.append(e["error"]["message"])
            elif e.get("level") == "ERROR":
                out.append(e["message"])
        return out

    def wait_for_run(self, run_id: str, *, timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
        """Poll until the run is finished; the run (status, tags)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.graphql(
                "query Q($id: ID!) { runOrError(runId: $id) { __typename ... on Run "
                "{ runId status jobName startTime endTime tags { key value } } } }",
                {"id": run_id},
            )
            run = data["runOrError"]
            if run.get("status") in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise ServerError(
                    f"run {run_id} still {run.get('status')} after {timeout:.0f} s\n{self.log_tail()}"
                )
            time.sleep(1.0)

    def wait_for_runs(self, *, tags: dict[str, str], timeout: float = RUN_TIMEOUT_S) -> list[dict[str, Any]]:
        """Poll until at least one run carries ``tags`` and every such run has finished."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(tags=tags)
            if runs and all(r["status"] in TERMINAL for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise ServerError(
                    f"no finished run tagged {tags} after {timeout:.0f} s: {runs}\n{self.log_tail()}"
                )
            if not self.alive():
                raise ServerError(f"maestro ui exited ({self.proc.returncode})\n{self.log_tail()}")
            time.sleep(1.0)

    def launch_assets(self, keys: list[list[str]], *, tags: dict[str, str] | None = None) -> str:
        """Launch a run materializing ``keys`` (as the UI's Materialize button does); its id."""
        location, repo = self.location()
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": repo,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": k} for k in keys],
            },
            "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        data = self.graphql(
            "mutation M($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
            "... on LaunchRunSuccess { run { runId } } ... on PythonError { message } "
            "... on RunConfigValidationInvalid { errors { message } } "
            "... on InvalidSubsetError { message } } }",
            {"p": params},
        )
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise ServerError(f"launchRun failed: {result}")
        return result["run"]["runId"]

    def latest_materialization(self, key: list[str]) -> dict[str, Any] | None:
        """The newest materialization of ``key``: run id and metadata as {label: value}."""
        data = self.graphql(
            "query A($k: AssetKeyInput!) { assetOrError(assetKey: $k) { __typename ... on Asset { "
            "assetMaterializations(limit: 1) { runId metadataEntries { label __typename "
            "... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue } "
            "... on TextMetadataEntry { text } } } } } }",
            {"k": {"path": key}},
        )
        mats = data["assetOrError"].get("assetMaterializations") or []
        if not mats:
            return None
        meta = {}
        for e in mats[0]["metadataEntries"]:
            meta[e["label"]] = e.get("intValue", e.get("floatValue", e.get("text")))
        return {"runId": mats[0]["runId"], "metadata": meta}

    def sensor_ticks(self, name: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The sensor's recent ticks, newest first (timestamp, status, run ids)."""
        location, repo = self.location()
        data = self.graphql(
            "query S($s: SensorSelector!, $n: Int) { sensorOrError(sensorSelector: $s) { __typename "
            "... on Sensor { sensorState { status ticks(limit: $n) { timestamp status runIds } } } } }",
            {
                "s": {"repositoryLocationName": location, "repositoryName": repo, "sensorName": name},
                "n": limit,
            },
        )
        sensor = data["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise ServerError(f"sensor {name}: {sensor}")
        return sensor["sensorState"]["ticks"]

    def set_sensor_running(self, name: str, running: bool) -> str:
        """Start or stop a sensor, as its toggle in the UI does; its new status."""
        location, repo = self.location()
        selector = {"repositoryLocationName": location, "repositoryName": repo, "sensorName": name}
        if running:
            data = self.graphql(
                "mutation S($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
                "... on Sensor { sensorState { status } } ... on PythonError { message } } }",
                {"s": selector},
            )
            result = data["startSensor"]
            status = (result.get("sensorState") or {}).get("status")
        else:
            data = self.graphql(
                "query S($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename "
                "... on Sensor { id } } }",
                {"s": selector},
            )
            sensor_id = data["sensorOrError"]["id"]
            data = self.graphql(
                "mutation S($id: String) { stopSensor(id: $id) { __typename ... on StopSensorMutationResult "
                "{ instigationState { status } } ... on PythonError { message } } }",
                {"id": sensor_id},
            )
            result = data["stopSensor"]
            status = (result.get("instigationState") or {}).get("status")
        if status != ("RUNNING" if running else "STOPPED"):
            raise ServerError(f"could not {'start' if running else 'stop'} sensor {name}: {result}")
        return status

    def asset_keys(self) -> list[list[str]]:
        data = self.graphql(
            "{ assetsOrError { __typename ... on AssetConnection { nodes { key { path } } } } }"
        )
        return [n["key"]["path"] for n in data["assetsOrError"]["nodes"]]

    def daemons_healthy(self) -> dict[str, bool]:
        data = self.graphql(
            "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
        )
        return {
            d["daemonType"]: bool(d["healthy"])
            for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]
            if d["required"]
        }


def _server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "DAGSTER_", "AWS_"))}
    env.update(
        {
            "MAESTRO_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "MAESTRO_S3_ENDPOINT_URL": CLOSED_LOOPBACK,
            "MAESTRO_SAMPLE_API_URL": CLOSED_LOOPBACK,
            "SAMPLE_API_TOKEN": "ui-tests",
            "AWS_ACCESS_KEY_ID": "ui-tests",
            "AWS_SECRET_ACCESS_KEY": "ui-tests",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _wait_until_ready(server: DagsterDev) -> None:
    """Webserver answering, code location loaded, sensor and run-queue daemons heartbeating."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    stage = "webserver /server_info"
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerError(
                f"maestro ui exited with {server.proc.returncode} while waiting for {stage}\n"
                f"{server.log_tail()}"
            )
        try:
            if (
                stage.startswith("webserver")
                and httpx.get(f"{server.url}/server_info", timeout=2.0).status_code == 200
            ):
                stage = "code location"
            if stage == "code location":
                data = server.graphql(
                    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
                entries = data["workspaceOrError"].get("locationEntries") or []
                loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
                errors = [
                    e["locationOrLoadError"]
                    for e in loaded
                    if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
                ]
                if errors:
                    raise ServerError(f"the definitions do not load: {errors[0]['message']}")
                if entries and len(loaded) == len(entries):
                    stage = "daemons"
            if stage == "daemons":
                health = server.daemons_healthy()
                if health.get("SENSOR") and health.get("QUEUED_RUN_COORDINATOR"):
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise ServerError(
        f"maestro ui not ready after {STARTUP_TIMEOUT_S:.0f} s (waiting for {stage})\n{server.log_tail()}"
    )


def _stop(proc: subprocess.Popen[bytes], home: Path) -> None:
    """Ctrl-C to the whole process group, then SIGKILL whatever is left of it or of its runs."""
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)  # maestro ui stops its services on SIGINT
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    # Anything still running with this home (a run worker that left the group, if any): killed too.
    me = os.getpid()
    for p in psutil.process_iter(["pid"]):
        try:
            if p.pid != me and p.environ().get("MAESTRO_HOME") == str(home):
                p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


@pytest.fixture(scope="session")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """``make ui`` on a temporary Maestro home and a free loopback port, for the whole session."""
    home = tmp_path_factory.mktemp("ui") / "maestro"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log_path = home.parent / "dagster-dev.log"
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "orchestration.cli",
        "ui",
        "--no-sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=_server_env(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterDev(url=f"http://127.0.0.1:{port}", home=home, log_path=log_path, proc=proc)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _stop(proc, home)


def _local_datasets(home: Path) -> set[str]:
    """Datasets fed from local files only (the CSV export, the drop folder): no endpoint needed."""
    from config.settings import Settings
    from config.sources import load_sources

    return {
        s.dataset
        for s in load_sources(Settings.from_env({"MAESTRO_HOME": str(home)}))
        if s.kind in ("csv", "file_drop")
    }


@pytest.fixture(scope="session")
def lake_built(dagster_dev: DagsterDev) -> str:
    """Customers and one day of orders in the lake, the dbt models and the catalog built.

    What a new user does first, through the webserver's GraphQL API: the drop sensor is switched
    off (as its toggle in the UI does), a day's export (orders_2026-11-02.csv) is put into the drop
    folder, and the ingests of the local sources (the CSV export, the drop folder; the others need
    an endpoint that does not run here), the dbt models and the catalog are materialized; then the
    sensor is switched back on. The daemon's run queue executes the run. Returns the run id.
    """
    server = dagster_dev
    sensor = "shop_orders_drop_sensor"
    server.set_sensor_running(sensor, False)
    try:
        deadline = time.monotonic() + 30
        while any(t["status"] == "STARTED" for t in server.sensor_ticks(sensor, limit=1)):
            if time.monotonic() > deadline:
                raise ServerError(f"sensor {sensor} tick still in progress after 30 s")
            time.sleep(0.5)
        server.drop_folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLES / "orders" / "orders_2026-11-02.csv", server.drop_folder)  # old mtime: complete
        local = _local_datasets(server.home)
        keys = [
            k
            for k in server.asset_keys()
            if (k[0] in ("bronze", "quarantine") and k[1] in local) or k[0] in BUILT_GROUPS
        ]
        run_id = server.launch_assets(keys, tags={"maestro/test": "lake_built"})
        run = server.wait_for_run(run_id)
    finally:
        server.set_sensor_running(sensor, True)
    if run["status"] != "SUCCESS":
        raise ServerError(
            f"building the lake: run {run_id} ended {run['status']}: {server.run_errors(run_id)}"
        )
    return run_id


@pytest.fixture(scope="session")
def chromium_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium (Debian's) with a fresh profile, driven by Playwright."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it when run as root)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the UI fills in from GraphQL; slow on a busy 2-core machine
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=exe,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture()
def page(chromium_context: Any, dagster_dev: DagsterDev) -> Iterator[Any]:
    """A fresh tab on the Dagster UI. The community sign-up dialog is marked seen, as Skip does."""
    dagster_dev.graphql("mutation { setNuxSeen }")
    tab = chromium_context.new_page()
    tab.set_default_timeout(30_000)
    try:
        yield tab
    finally:
        tab.close()
