"""The Dagster instance of an installation: its ``dagster.yaml`` and its storage, prepared once.

``$MAESTRO_HOME/dagster`` holds Dagster's SQLite storage (runs, event logs, schedules). Before any
Dagster process starts (webserver, daemon, code server, the demo's in-process run), the entry
point calls :func:`prepare_instance`, which under an exclusive file lock

1. writes ``dagster.yaml``, or adds to an existing one every setting below that it lacks (values
   already there win, so an operator's own choices stay; an instance created before these
   settings existed gets them on its next start);
2. creates the storage by opening the instance once. SQLite schema creation is not safe against
   concurrent first starts: several processes creating the run database at once corrupted it so
   that the instance never started again. With the lock, the first process creates the schema and
   the others find it done.

The settings, and why:

- ``run_monitoring``: the daemon watches every run. A run stuck in STARTING (its worker never came
  up) fails after ``start_timeout_seconds``; one stuck in CANCELING is marked canceled after
  ``cancel_timeout_seconds``. A STARTED run whose worker process died (SIGKILL, OOM, a crashed
  code server taking its workers with it) is detected by :class:`orchestration.launcher.
  LocalRunLauncher`'s health check every ``poll_interval_seconds`` and marked failed — Dagster's
  default launcher has no health check, so such runs stayed STARTED for ever.
  ``max_resume_run_attempts`` is 0: resuming a run inside a new worker needs a launcher that can
  start one (Kubernetes, Docker, ECS); the local launcher cannot, and Dagster refuses the setting
  with it. A dead run is instead *retried*:
- ``run_retries``: a failed run is re-executed from its failure as a new run of the same run group
  with the same tags and config (a sensor's run keeps naming its input), at most ``max_retries``
  times (the ``dagster/max_retries`` tag overrides it per run or job). ``retry_on_asset_or_op_failure``
  is false: a run is retried when its *worker* failed (killed, timed out starting, crashed outside
  a step), not when a step failed — a failing dbt test or a blocking contract check would fail the
  same way again. A step that knows its failure is transient asks for its own retry inside the run
  (the ingest step does when a source was unreachable: ``orchestration/defs/ingest/assets.py``),
  and the drop and push sensors request an input again after its run failed.

Retrying an ingest is safe because an ingest is idempotent: each input's content hash is recorded
as a Delta application transaction in the same atomic commit as its rows, so a retry that reads an
input already committed commits nothing (its rows and quarantine are not doubled), and a drop file
is claimed by an atomic rename, so two attempts never ingest one file at once.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from config.settings import Settings
from orchestration.home import PRIVATE_DIR_MODE, secure_home

__all__ = ["DAGSTER_SETTINGS", "instance_lock", "merged_settings", "prepare_instance"]

DAGSTER_SETTINGS: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "run_launcher": {"module": "orchestration.launcher", "class": "LocalRunLauncher"},
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 180,
        "cancel_timeout_seconds": 180,
        "max_resume_run_attempts": 0,
        "poll_interval_seconds": 15,
    },
    "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
}

HEADER = (
    "# Dagster instance of Maestro Conductor. Written by orchestration/instance.py, which adds any\n"
    "# setting this file lacks on each start and never changes one that is here.\n"
)
LOCK_NAME = ".maestro-instance.lock"


def merged_settings(current: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with every key of ``defaults`` it lacks added, recursively; its values win."""
    out = copy.deepcopy(dict(current or {}))
    for key, value in defaults.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict) and isinstance(value, Mapping):
            out[key] = merged_settings(out[key], value)
    return out


@contextlib.contextmanager
def instance_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the Dagster home, held while its configuration and storage are set up."""
    home.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_config(cfg: Path) -> bool:
    """Write or complete ``dagster.yaml``; whether it changed."""
    try:
        text = cfg.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    try:
        current = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as err:
        raise ValueError(f"{cfg} is not valid YAML ({err}); fix or remove it") from err
    if not isinstance(current, dict):
        raise ValueError(f"{cfg} must hold a mapping of Dagster settings, not {type(current).__name__}")
    wanted = merged_settings(current, DAGSTER_SETTINGS)
    if text is not None and wanted == current:
        return False
    tmp = cfg.with_name(f".{cfg.name}.{os.getpid()}.tmp")
    tmp.write_text(HEADER + yaml.safe_dump(wanted, sort_keys=False), encoding="utf-8")
    os.replace(tmp, cfg)
    return True


def prepare_instance(settings: Settings) -> Path:
    """Configure and initialize the Dagster instance of ``settings`` once; point DAGSTER_HOME at it.

    Safe to call from several processes at once, and on every start.
    """
    from dagster import DagsterInstance

    secure_home(settings)
    home = settings.dagster_home
    with instance_lock(home):
        _write_config(home / "dagster.yaml")
        # Opening the instance creates (or checks) its run, event-log index and schedule storage.
        with DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
