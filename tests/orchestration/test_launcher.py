"""Run-worker health as run monitoring sees it: a live worker runs, a dead or replaced one failed."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
from dagster import DagsterInstance
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test

from config.settings import Settings
from orchestration.instance import prepare_instance
from orchestration.launcher import HOST_TAG, this_host, worker_status


def _started_run(instance: DagsterInstance, **tags: str):  # noqa: ANN202
    return create_run_for_test(instance, job_name="ingest", status=DagsterRunStatus.STARTED, tags=tags)


def test_a_worker_is_running_while_its_process_lives_and_failed_once_it_is_killed(settings: Settings) -> None:
    prepare_instance(settings)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with DagsterInstance.get() as instance:
            run = _started_run(instance, **{HOST_TAG: this_host()})
            launcher = instance.run_launcher
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING  # no pid yet
            instance.report_engine_event(
                f"Started process for run (pid: {worker.pid}).", run, EngineEventData.in_process(worker.pid)
            )
            health = launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.RUNNING, health
            worker.kill()
            worker.wait()
            health = launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.FAILED and str(worker.pid) in health.msg
    finally:
        worker.kill()


def test_a_worker_on_another_host_is_not_judged_from_here(settings: Settings) -> None:
    prepare_instance(settings)
    with DagsterInstance.get() as instance:
        elsewhere = _started_run(instance, **{HOST_TAG: "some-other-host"})
        instance.report_engine_event("Started process.", elsewhere, EngineEventData.in_process(999_999))
        untagged = _started_run(instance)
        for run in (elsewhere, untagged):
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.RUNNING and "not checked" in health.msg


def test_a_pid_taken_over_by_a_newer_process_is_a_dead_worker() -> None:
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        recorded_long_ago = time.time() - 3600  # the event naming this pid predates the process
        health = worker_status(newer.pid, recorded_long_ago)
        assert health.status == WorkerStatus.FAILED and "newer process" in health.msg
        assert worker_status(newer.pid, time.time()).status == WorkerStatus.RUNNING
    finally:
        newer.kill()
        newer.wait()


def test_an_exited_but_unreaped_worker_is_dead() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker_status(zombie.pid, time.time()).status == WorkerStatus.FAILED
    zombie.wait()
