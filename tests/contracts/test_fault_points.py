"""Enforcement's fault points fire where asked, and a kill there leaves only temporary files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import pyarrow as pa
from contracts.enforce import Enforcer, InputContext
from contracts.model import Contract

contract = Contract.model_validate({"name": "t", "version": "1.0.0", "owner": "o", "description": "d",
    "columns": [{"name": "id", "type": "int64", "nullable": False}], "primary_key": ["id"]})
enforcer = Enforcer(contract, context=InputContext("m", "u", "s", None), memory_keys=2)
for start in range(0, 12, 3):
    enforcer.process(pa.record_batch([pa.array([str(i) for i in range(start, start + 3)])], names=["id"]))
print("done", flush=True)
"""


def _run(tmp_path: Path, spec: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = tmp_path / "faults.jsonl"
    env = {**os.environ, "MAESTRO_FAULTS": spec, "MAESTRO_FAULTS_LOG": str(log), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    return proc, [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_a_kill_after_spilling_keys_leaves_the_spill_in_the_temporary_folder_only(tmp_path: Path) -> None:
    proc, lines = _run(tmp_path, "contracts.keys_spilled@2=kill")
    assert proc.returncode == -9 and "done" not in proc.stdout
    assert [(x["point"], x["hit"], x["action"]) for x in lines] == [("contracts.keys_spilled", 2, "kill")]
    (left,) = tmp_path.glob("maestro-keys-*")  # what pipeline/scratch.py removes after a kill
    assert len(list(left.iterdir())) == 2
    # A run that is not killed spills, finishes and removes its own folder.
    proc, _ = _run(tmp_path, "")
    assert proc.returncode == 0 and "done" in proc.stdout
    assert list(tmp_path.glob("maestro-keys-*")) == [left]


def test_a_kill_after_the_first_batch_of_an_input_lands_there_once(tmp_path: Path) -> None:
    log = tmp_path / "trace.jsonl"
    env = {**os.environ, "MAESTRO_FAULTS_TRACE": "1", "MAESTRO_FAULTS_LOG": str(log), "TMPDIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=REPO, check=True, timeout=120, capture_output=True
    )
    crossed = [x["point"] for x in map(json.loads, log.read_text().splitlines())]
    assert crossed.count("contracts.first_batch_enforced") == 1  # 4 batches, one point
    proc, lines = _run(tmp_path, "contracts.first_batch_enforced=kill")
    assert proc.returncode == -9
    assert [(x["point"], x["hit"]) for x in lines] == [("contracts.first_batch_enforced", 1)]
