"""The Dagster instance: configured for recovery, upgraded in place, initialized once under a lock."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from config.settings import Settings
from orchestration.instance import DAGSTER_SETTINGS, merged_settings, prepare_instance
from orchestration.launcher import LocalRunLauncher

REPO = Path(__file__).resolve().parents[2]


def test_a_fresh_instance_monitors_runs_and_retries_those_whose_worker_died(settings: Settings) -> None:
    home = prepare_instance(settings)
    assert os.environ["DAGSTER_HOME"] == str(home)
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_max_resume_run_attempts == 0  # the local launcher cannot resume
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_poll_interval_seconds == 15
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert {"telemetry", "run_monitoring", "run_retries", "run_launcher"} <= set(
        yaml.safe_load((home / "dagster.yaml").read_text())
    )


def test_the_dagster_home_and_its_storage_are_private(settings: Settings) -> None:
    old = os.umask(0o022)
    try:
        home = prepare_instance(settings)
    finally:
        os.umask(old)
    for folder in (settings.home, home, settings.keys_dir, settings.home / "lake", settings.home / "ledger"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_an_older_instance_gets_the_new_settings_and_keeps_its_own(settings: Settings) -> None:
    cfg = settings.dagster_home / "dagster.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        "telemetry:\n  enabled: false\n"
        "run_monitoring:\n  poll_interval_seconds: 5\n"
        "run_retries:\n  max_retries: 4\n"
    )
    prepare_instance(settings)
    written = yaml.safe_load(cfg.read_text())
    assert written["run_monitoring"]["poll_interval_seconds"] == 5  # the operator's value stays
    assert written["run_monitoring"]["enabled"] is True  # what was missing is added
    assert written["run_monitoring"]["start_timeout_seconds"] == 180
    retries = {"max_retries": 4, "enabled": True, "retry_on_asset_or_op_failure": False}
    assert written["run_retries"] == retries
    assert written["run_launcher"] == DAGSTER_SETTINGS["run_launcher"]
    before = cfg.read_text()
    prepare_instance(settings)
    assert cfg.read_text() == before  # nothing missing: the file is left as it is


def test_settings_are_merged_key_by_key_and_the_existing_values_win() -> None:
    assert merged_settings({"a": {"x": 1}, "b": 2}, {"a": {"x": 9, "y": 3}, "c": {"z": 1}}) == {
        "a": {"x": 1, "y": 3},
        "b": 2,
        "c": {"z": 1},
    }


def test_a_dagster_yaml_that_is_not_yaml_is_reported_by_name(settings: Settings) -> None:
    cfg = settings.dagster_home / "dagster.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("run_monitoring: [unclosed\n")
    with pytest.raises(ValueError, match=f"{cfg} is not valid YAML"):
        prepare_instance(settings)


STARTER = """
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
from config.settings import Settings
from orchestration.instance import prepare_instance
from dagster import DagsterInstance
from dagster._core.test_utils import create_run_for_test
prepare_instance(Settings.from_env())
with DagsterInstance.get() as instance:
    create_run_for_test(instance, job_name="started_" + sys.argv[2])
"""


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_instance_leave_it_sound(
    settings: Settings, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "MAESTRO_HOME": str(settings.home)}
    env.pop("DAGSTER_HOME", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", STARTER, str(go), str(i)], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(5)
    ]
    time.sleep(3.0)  # every process is importing, then waits for the same starting signal
    go.touch()
    errors = [p.communicate(timeout=120)[1].decode()[-2000:] for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, errors
    runs_db = settings.dagster_home / "history" / "runs.db"
    with sqlite3.connect(runs_db) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        assert sorted(r.job_name for r in instance.get_runs()) == [f"started_{i}" for i in range(5)]
