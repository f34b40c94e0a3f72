"""The ``maestro ui`` supervisor: a service that dies is restarted; one that cannot stay up stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from orchestration.services import code_locations

REPO = Path(__file__).resolve().parents[2]

SUPERVISOR = """
import sys
from orchestration import services
services.MAX_RESTARTS = 3
steady = services.Service("steady", [sys.executable, "-c", "import time; time.sleep(120)"], backoff_s=0.1)
flaky = services.Service("flaky", [sys.executable, "-c", sys.argv[1]], backoff_s=0.1)
services.configure_logging()
sys.exit(services.supervise([steady, flaky], poll_s=0.1))
"""
# "needy" needs "base" serving (the daemon needs the code servers).
DEPENDENT = """
import sys
from orchestration import services
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
base = services.Service("base", sleep, backoff_s=2.0)
needy = services.Service("needy", sleep + ["needy"], needs=[base])
services.configure_logging()
sys.exit(services.supervise([base, needy], poll_s=0.1))
"""


def _supervisor(flaky_code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SUPERVISOR, flaky_code], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(proc: subprocess.Popen[str], *, want: int, timeout: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [c for c in psutil.Process(proc.pid).children() if c.status() != psutil.STATUS_ZOMBIE]
        if len(kids) >= want:
            return kids
        time.sleep(0.1)
    raise AssertionError(f"supervisor has {len(kids)} children, want {want}")


def test_a_killed_service_is_restarted_and_ctrl_c_stops_everything() -> None:
    proc = _supervisor("import time; time.sleep(120)")
    try:
        first = {c.pid for c in _children(proc, want=2)}
        victim = max(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = {c.pid for c in _children(proc, want=2)}
            if victim not in now and len(now) == 2:
                break
            time.sleep(0.1)
        assert victim not in now and len(now - first) == 1, (first, now)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "exited unexpectedly" in err and "restarting" in err
        _, alive = psutil.wait_procs([psutil.Process(p) for p in now if psutil.pid_exists(p)], timeout=10)
        assert not alive, alive
    finally:
        proc.kill()


def test_a_service_is_paused_while_a_service_it_needs_is_down() -> None:
    proc = subprocess.Popen([sys.executable, "-c", DEPENDENT], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        kids = _children(proc, want=2)
        base = next(k for k in kids if "needy" not in " ".join(k.cmdline()))
        needy = next(k for k in kids if "needy" in " ".join(k.cmdline()))
        base.kill()
        needy.wait(timeout=30)  # stopped while base is down (base comes back after 2 s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = {k.pid: " ".join(k.cmdline()) for k in _children(proc, want=1)}
            if len(now) == 2 and base.pid not in now and needy.pid not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and base.pid not in now and needy.pid not in now, now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "pausing needy while base is not serving" in err and "resuming needy" in err, err
        assert err.index("pausing needy") < err.index("resuming needy")
    finally:
        proc.kill()


def test_a_service_that_keeps_dying_stops_the_supervisor_with_an_error() -> None:
    proc = _supervisor("raise SystemExit(3)")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "flaky exited with 3 and was restarted 3 times" in err and "giving up" in err


def test_children_die_with_a_killed_supervisor() -> None:
    proc = _supervisor("import time; time.sleep(120)")
    kids = _children(proc, want=2)
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive, alive


def test_only_python_module_code_locations_are_served(tmp_path: Path) -> None:
    assert code_locations(REPO / "workspace.yaml") == [{
        "module": "orchestration.definitions", "attribute": "defs",
        "location": "orchestration.definitions", "working_directory": str(REPO),
    }]
    other = tmp_path / "workspace.yaml"
    other.write_text("load_from:\n  - grpc_server: {host: localhost, port: 4000}\n")
    with pytest.raises(ValueError, match="only python_module code locations"):
        code_locations(other)
