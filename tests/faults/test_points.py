"""Fault points do nothing unless asked, fire on the n-th hit, and log where they fired first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import faults

SCRIPT = """
import faults
for i in range(5):
    faults.point("loop")
    print(i, flush=True)
"""


def _run(tmp_path: Path, spec: str, *, trace: bool = False) -> tuple[subprocess.CompletedProcess, list]:
    log = tmp_path / "faults.jsonl"
    env = {"MAESTRO_FAULTS": spec, "MAESTRO_FAULTS_LOG": str(log), "PATH": "/usr/bin:/bin"}
    if trace:
        env["MAESTRO_FAULTS_TRACE"] = "1"
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return proc, lines


def test_a_point_nobody_asked_for_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAESTRO_FAULTS", raising=False)
    monkeypatch.delenv("MAESTRO_FAULTS_TRACE", raising=False)
    faults.point("anything")


def test_kill_on_the_third_hit_logs_the_point_before_the_process_dies(tmp_path: Path) -> None:
    proc, lines = _run(tmp_path, "loop@3=kill")
    assert proc.returncode == -9
    assert proc.stdout.split() == ["0", "1"]
    assert [(x["point"], x["hit"], x["action"]) for x in lines] == [("loop", 3, "kill")]


def test_raise_is_an_os_error_naming_the_point(tmp_path: Path) -> None:
    proc, _ = _run(tmp_path, "loop@2=raise")
    assert proc.returncode == 1
    assert "FaultInjected: fault injected at loop (hit 2)" in proc.stderr


def test_trace_lists_every_point_reached(tmp_path: Path) -> None:
    proc, lines = _run(tmp_path, "", trace=True)
    assert proc.returncode == 0
    assert [x["hit"] for x in lines] == [1, 2, 3, 4, 5]
