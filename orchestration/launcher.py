"""Dagster's default run launcher, plus the health check that lets run monitoring see dead workers.

Dagster's :class:`~dagster.DefaultRunLauncher` starts each run as a process of the code server. It
has no health check: when the worker is killed, only that code server notices (and marks the run
failed); when the code server died too, or the daemon was down, the run stays STARTED for ever.
Run monitoring (``run_monitoring`` in ``dagster.yaml``, see :mod:`orchestration.instance`) asks
the launcher about every STARTED run; this launcher answers from the operating system:

- every run worker records its pid in the run's event log (Dagster's ``Started process for run``
  and ``Executing steps in process`` engine events); the launcher tags each run it launches with
  the host its worker runs on (``maestro/run_worker_host``; the demo's in-process run is tagged
  the same way);
- on that host, a worker is alive when a process with that pid exists, is not a zombie, and was
  created no later than the event that named it (else the pid was reused by another process).
  A dead worker is reported FAILED, and run monitoring marks the run failed; run retries then
  re-execute it from the failure.

A run whose worker is on another host, or that has not yet recorded a pid, cannot be judged from
here: it is reported RUNNING (the only status the monitor does not act on), and only its
``dagster/max_runtime`` limit, if any, ends it.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from dagster import DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG

__all__ = ["HOST_TAG", "LocalRunLauncher", "worker_pid", "worker_status"]

HOST_TAG = "maestro/run_worker_host"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
# A process's start time is recorded in clock ticks (10 ms); the event's timestamp is taken after
# the process started. One second absorbs both roundings.
CLOCK_SLACK_S = 1.0


def this_host() -> str:
    return socket.gethostname()


def worker_pid(instance: Any, run_id: str) -> tuple[int, float] | None:
    """The pid the run's worker last recorded, and when; None if it has recorded none."""
    found = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data is not None and data.metadata else None
        if pid is None:
            continue
        try:
            found = (int(pid.value), float(entry.timestamp))
        except (TypeError, ValueError):
            continue
    return found


def worker_status(pid: int, recorded_at: float) -> CheckRunHealthResult:
    """Whether the process ``pid``, named by an event at ``recorded_at``, is still that worker."""
    import psutil

    try:
        proc = psutil.Process(pid)
        created = proc.create_time()
        status = proc.status()
    except psutil.NoSuchProcess:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone")
    except psutil.AccessDenied:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} exists (not ours)")
    if created > recorded_at + CLOCK_SLACK_S:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (the pid now belongs to a newer process)"
        )
    if status == psutil.STATUS_ZOMBIE:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} has exited")
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} is alive")


class LocalRunLauncher(DefaultRunLauncher):
    """:class:`~dagster.DefaultRunLauncher` with a run-worker health check (see the module doc)."""

    def launch_run(self, context: LaunchRunContext) -> None:
        super().launch_run(context)
        launched = self._instance.get_run_by_id(context.dagster_run.run_id)
        tags = launched.tags if launched is not None else {}
        try:
            host = json.loads(tags.get(GRPC_INFO_TAG, "{}")).get("host") or ""
        except (ValueError, AttributeError):
            host = None
        # The worker runs where its code server runs: here when that server is on loopback.
        if host in LOOPBACK:
            self._instance.add_run_tags(context.dagster_run.run_id, {HOST_TAG: this_host()})

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        host = run.tags.get(HOST_TAG)
        if host != this_host():
            where = f"on host {host}" if host else "on an unrecorded host"
            # RUNNING is the only answer the monitor does not act on: we cannot see that process.
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker {where}: not checked from here")
        found = worker_pid(self._instance, run.run_id)
        if found is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker has not recorded its pid yet")
        return worker_status(*found)
