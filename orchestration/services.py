"""``maestro ui``: the code server, the daemon and the guarded webserver, kept running.

Three kinds of process serve one installation, as ``dagster dev`` would start them, but each on
its own so that none takes the others down and the webserver can be guarded
(:mod:`orchestration.webserver`):

- one **code server** per code location of ``workspace.yaml`` (``dagster code-server start`` on a
  Unix socket in a private folder); it loads the definitions and starts each run's worker;
- the **daemon** (``dagster-daemon run``): sensors, schedules, the run queue, run monitoring and
  run retries;
- the **webserver** (``python -m orchestration.webserver``) behind the Host allow-list.

The daemon and the webserver reach the code servers through a generated workspace file. The
supervisor restarts any of them that exits unexpectedly (after 1, 2, 4 ... 30 s), and gives up —
stopping the others and exiting non-zero — when one has had to be restarted
:data:`MAX_RESTARTS` times within :data:`RESTART_WINDOW_S`: a process that cannot stay up needs a
person. Run workers are not supervised: a worker that dies is found by run monitoring and its run
retried (:mod:`orchestration.instance`). Children die with the supervisor (``PR_SET_PDEATHSIG``);
code servers also stop on their own when the supervisor's heartbeat stops, once their runs end.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW_S", "Service", "code_locations", "run_ui"]

MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0
STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 180.0
HEARTBEAT_INTERVAL_S = 10.0
HEARTBEAT_TIMEOUT_S = 60
PR_SET_PDEATHSIG = 1
log = logging.getLogger("maestro.ui")


def _libc_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: children outlive a killed supervisor
        return None


_PRCTL = _libc_prctl()  # resolved here: the child must not dlopen between fork and exec


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the supervisor dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    """One supervised process: its command, what it needs running first, and its restarts."""

    name: str
    cmd: list[str]
    ready: Callable[[], bool] | None = None
    """Whether the started process serves yet (none: as soon as it runs)."""
    needs: list[Service] = field(default_factory=list)
    """Services that must be serving while this one runs: it is paused while one of them is not."""
    proc: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)
    backoff_s: float = 1.0
    due: float = 0.0
    serving: bool = False
    held: bool = False

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, preexec_fn=_die_with_parent)  # noqa: PLW1509
        self.serving = self.ready is None
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def is_serving(self) -> bool:
        if self.exited() is not None or self.proc is None:
            return False
        if not self.serving and self.ready is not None and self.ready():
            self.serving = True
            log.info("%s is serving", self.name)
        return self.serving

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def stop_and_wait(self) -> None:
        self.stop(signal.SIGINT)  # as Ctrl-C: Dagster's processes shut down cleanly on SIGINT
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", self.name, STOP_TIMEOUT_S)
            self.proc.kill()
            self.proc.wait()


def code_locations(workspace: Path) -> list[dict[str, str]]:
    """The ``python_module`` code locations of ``workspace`` (module, attribute, location name)."""
    doc = yaml.safe_load(workspace.read_text(encoding="utf-8")) or {}
    out = []
    for entry in doc.get("load_from") or []:
        spec = entry.get("python_module") if isinstance(entry, dict) else None
        if isinstance(spec, str):
            spec = {"module_name": spec}
        if not isinstance(spec, dict) or not spec.get("module_name"):
            raise ValueError(f"{workspace}: only python_module code locations are supported, got {entry!r}")
        out.append(
            {
                "module": spec["module_name"],
                "attribute": spec.get("attribute") or "",
                "location": spec.get("location_name") or spec["module_name"],
                "working_directory": spec.get("working_directory") or str(workspace.parent),
            }
        )
    if not out:
        raise ValueError(f"{workspace} names no code location")
    return out


def _code_server_cmd(loc: dict[str, str], socket: Path) -> list[str]:
    cmd = [sys.executable, "-m", "dagster", "code-server", "start", "--socket", str(socket),
           "-m", loc["module"], "--location-name", loc["location"], "-d", loc["working_directory"],
           "--use-python-environment-entry-point", "--log-level", "warning",
           "--heartbeat", "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT_S)]
    return cmd + (["-a", loc["attribute"]] if loc["attribute"] else [])


@contextlib.contextmanager
def _heartbeats(sockets: Sequence[Path]) -> Iterator[None]:
    """Heartbeat the code servers from a thread (a wedged server must not stall supervision)."""
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient

    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_INTERVAL_S):
            for sock in sockets:
                with contextlib.suppress(DagsterUserCodeUnreachableError):
                    DagsterGrpcClient(socket=str(sock)).heartbeat("maestro-ui")

    thread = threading.Thread(target=beat, name="maestro-ui-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def supervise(services: Sequence[Service], *, poll_s: float = 1.0) -> int:
    """Start ``services`` in order and keep them running until interrupted; the exit code.

    A service that exits unexpectedly is restarted after its backoff; one that needs another is
    started only once that one serves, and paused (stopped, then started again) while it does not.
    """
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for svc in services:
            _await(svc.needs, stopping)
            svc.start()
        while not stopping and code == 0:
            time.sleep(poll_s)
            for svc in services:
                if stopping or not _tend(svc, time.monotonic()):
                    code = code if stopping else 1
                    break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_all(services)
    return code


def _tend(svc: Service, now: float) -> bool:
    """One look at ``svc``: pause, resume or restart it as needed; False to give up."""
    missing = [d.name for d in svc.needs if not d.is_serving()]
    rc = svc.exited()
    if rc is None:
        svc.is_serving()
        if missing:
            log.warning("pausing %s while %s is not serving", svc.name, ", ".join(missing))
            svc.held = True
            svc.stop_and_wait()
        return True
    if svc.held:
        if not missing:
            log.info("resuming %s", svc.name)
            svc.held = False
            svc.start()
        return True
    if svc.due == 0.0:
        while svc.restarts and now - svc.restarts[0] > RESTART_WINDOW_S:
            svc.restarts.popleft()
        if len(svc.restarts) >= MAX_RESTARTS:
            log.error("%s exited with %s and was restarted %d times in %.0f s: giving up",
                      svc.name, rc, len(svc.restarts), RESTART_WINDOW_S)
            return False
        svc.due = now + svc.backoff_s
        log.warning("%s exited unexpectedly with %s; restarting in %.0f s", svc.name, rc, svc.backoff_s)
        svc.backoff_s = min(svc.backoff_s * 2, 30.0)
    elif now >= svc.due:
        svc.restarts.append(now)
        svc.due = 0.0
        if missing:
            svc.held = True  # started again once what it needs serves
        else:
            svc.start()
    return True


def _await(needed: Sequence[Service], stopping: list[int]) -> None:
    """Wait until every service in ``needed`` serves (or gives up waiting, after a timeout)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stopping and time.monotonic() < deadline:
        if all(d.is_serving() or d.exited() is not None for d in needed):
            return
        time.sleep(0.5)
    if not stopping:
        names = ", ".join(d.name for d in needed)
        log.warning("%s not serving after %.0f s: going on", names, READY_TIMEOUT_S)


def _serving(sock: Path) -> Callable[[], bool]:
    """Whether the code server on ``sock`` has loaded its code (it lists its repositories)."""

    def ready() -> bool:
        from dagster._api.list_repositories import sync_list_repositories_grpc
        from dagster._grpc.client import DagsterGrpcClient

        if not sock.exists():
            return False
        try:
            sync_list_repositories_grpc(DagsterGrpcClient(socket=str(sock)))
        except Exception:  # unreachable, still loading, or failed to load: not serving
            return False
        return True

    return ready


def _stop_all(services: Sequence[Service]) -> None:
    for svc in reversed(services):
        svc.stop(signal.SIGINT)
    for svc in services:
        svc.stop_and_wait()


def run_ui(workspace: Path, *, host: str, port: int, allowed_hosts: Sequence[str]) -> int:
    """Serve the UI of the instance in ``DAGSTER_HOME`` for ``workspace`` until interrupted."""
    locations = code_locations(workspace)
    # A short private folder: a Unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="maestro-ui-") as tmp:
        sockets = [Path(tmp) / f"code-{i}.sock" for i in range(len(locations))]
        generated = Path(tmp) / "workspace.yaml"
        generated.write_text(yaml.safe_dump({"load_from": [
            {"grpc_server": {"socket": str(sock), "location_name": loc["location"]}}
            for loc, sock in zip(locations, sockets, strict=True)
        ]}))
        code_servers = [
            Service(f"code server {loc['location']}", _code_server_cmd(loc, sock), _serving(sock))
            for loc, sock in zip(locations, sockets, strict=True)
        ]
        # The daemon runs only while every code server serves: a run retry launched while a code
        # server is down fails once and for all (Dagster marks the run "will not retry").
        daemon = [sys.executable, "-m", "dagster._daemon", "run", "-w", str(generated)]
        services = [*code_servers, Service("daemon", daemon, needs=code_servers)]
        services.append(Service("webserver", [
            sys.executable, "-m", "orchestration.webserver", "--host", host, "--port", str(port),
            "-w", str(generated), *[a for h in allowed_hosts for a in ("--allowed-host", h)],
        ]))
        with _heartbeats(sockets):
            return supervise(services)


def configure_logging() -> None:
    """The supervisor's own messages on stderr (Dagster's processes log on their own)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - maestro ui - %(levelname)s - %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
