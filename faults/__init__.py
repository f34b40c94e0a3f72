"""Named fault points: where the kill-point harness may stop a process, and the record of where.

Code on a path that must survive crashes calls :func:`point` at the moments that matter (after a
claim, between a commit and the bookkeeping that follows it, ...). Unless the environment asks
for a fault, a point costs one dictionary lookup and does nothing.

``MAESTRO_FAULTS`` (read at run time, on each call) names the faults to inject, comma-separated::

    <point>[@<n>]=<action>      e.g.  pipeline.drop.after_claim=kill,lake.after_bronze@2=raise

``@n`` fires on the n-th time the process reaches the point (default: the first). Actions:
``kill`` (SIGKILL of the process itself: no cleanup, no ``finally``), ``exit`` (``os._exit(137)``)
and ``raise`` (:class:`FaultInjected`, an ``OSError``, as a failing disk or network would).

``MAESTRO_FAULTS_LOG`` names a file to which a JSON line is appended, and fsynced, *before* the
action: ``{"point", "hit", "pid", "action", "at"}``. That line is how a harness proves where each
kill landed. With ``MAESTRO_FAULTS_TRACE=1`` every point reached is logged (action ``trace``), so
a harness can list the points a scenario crosses before choosing where to kill it.

Nothing here imports anything but the standard library; every package may use it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

__all__ = ["FaultInjected", "point", "reset"]

_lock = threading.Lock()
_hits: dict[str, int] = {}


class FaultInjected(OSError):
    """Raised at a fault point whose action is ``raise``."""


def _parse(spec: str) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        where, _, action = item.partition("=")
        name, _, nth = where.partition("@")
        out[name.strip()] = (int(nth) if nth else 1, action.strip() or "kill")
    return out


def _log(path: str, name: str, hit: int, action: str) -> None:
    line = json.dumps({"point": name, "hit": hit, "pid": os.getpid(), "action": action, "at": time.time()})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def reset() -> None:
    """Forget how often each point was reached (for in-process tests that inject faults)."""
    with _lock:
        _hits.clear()


def point(name: str) -> None:
    """A named moment on a crash-sensitive path (see the module docstring)."""
    spec = os.environ.get("MAESTRO_FAULTS")
    trace = os.environ.get("MAESTRO_FAULTS_TRACE") == "1"
    if not spec and not trace:
        return
    with _lock:
        hit = _hits.get(name, 0) + 1
        _hits[name] = hit
    log = os.environ.get("MAESTRO_FAULTS_LOG")
    wanted = _parse(spec).get(name) if spec else None
    if wanted is None or wanted[0] != hit:
        if trace and log:
            _log(log, name, hit, "trace")
        return
    action = wanted[1]
    if log:
        _log(log, name, hit, action)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # the signal is delivered asynchronously; never run past the point
    elif action == "exit":
        os._exit(137)
    elif action == "raise":
        raise FaultInjected(f"fault injected at {name} (hit {hit})")
    else:
        raise ValueError(f"MAESTRO_FAULTS: unknown action {action!r} for point {name!r}")
