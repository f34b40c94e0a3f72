"""Claims and their recovery with real processes: a claim whose process is gone is put back by the
next run, a live claim never is, and putting back never overwrites a newer file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.file_drop import DropFolder, FileDropConfig
from connectors.file_drop.fsops import move_noclobber

REPO = Path(__file__).resolve().parents[3]

CLAIM_AND_DIE = """
import sys
sys.path.insert(0, {repo!r})
from connectors.file_drop import DropFolder, FileDropConfig
folder = DropFolder(FileDropConfig(name="drop", dataset="orders", folder={folder!r}))
folder.claim({path!r})  # MAESTRO_FAULTS kills the process right after the claim
"""

CLAIM_AND_WAIT = """
import sys, time
sys.path.insert(0, {repo!r})
from connectors.file_drop import DropFolder, FileDropConfig
folder = DropFolder(FileDropConfig(name="drop", dataset="orders", folder={folder!r}))
claim = folder.claim({path!r})
print("claimed", flush=True)
sys.stdin.readline()
"""


def _folder(tmp_path: Path) -> DropFolder:
    folder = DropFolder(FileDropConfig(name="drop", dataset="orders", folder=str(tmp_path / "drop")))
    folder.ensure()
    return folder


def _claim_and_die(tmp_path: Path, folder: DropFolder, name: str) -> None:
    """A run that claims ``name`` and is SIGKILLed right after (the fault point logs where)."""
    log = tmp_path / "faults.log"
    env = {**os.environ, "MAESTRO_FAULTS": "drop.after_claim=kill", "MAESTRO_FAULTS_LOG": str(log)}
    code = CLAIM_AND_DIE.format(repo=str(REPO), folder=str(folder.root), path=str(folder.root / name))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert json.loads(log.read_text().splitlines()[-1])["point"] == "drop.after_claim"


def test_a_claim_whose_process_was_killed_is_put_back_by_the_next_run(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    mtime = os.stat(folder.root / "a.csv").st_mtime_ns
    _claim_and_die(tmp_path, folder, "a.csv")
    assert not (folder.root / "a.csv").exists()  # stranded in _processing/

    back = folder.recover_stale()  # at once: no 15-minute wait

    assert back == [folder.root / "a.csv"] and back[0].read_text() == "x\n1\n"
    assert os.stat(back[0]).st_mtime_ns == mtime  # unchanged: the same file, the same run key
    assert list(folder.processing.iterdir()) == []  # the claim and its lock file are gone


def test_a_stale_claim_and_a_newer_file_of_the_same_name_are_both_kept(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "orders.csv.gz").write_text("old\n")
    _claim_and_die(tmp_path, folder, "orders.csv.gz")
    (folder.root / "orders.csv.gz").write_text("newer\n")  # the partner drops a newer export

    back = folder.recover_stale()

    assert (folder.root / "orders.csv.gz").read_text() == "newer\n"  # never overwritten
    assert len(back) == 1 and back[0].read_text() == "old\n"
    assert back[0].name == "orders~2.csv.gz" and folder.matches(back[0].name)
    assert {f.path.name for f in folder.scan(now=time.time() + 60).ready} == {"orders.csv.gz", back[0].name}


def test_a_claim_of_a_live_process_is_never_taken(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    code = CLAIM_AND_WAIT.format(repo=str(REPO), folder=str(folder.root), path=str(folder.root / "a.csv"))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
        assert folder.recover_stale() == []
        assert folder.scan(now=time.time() + 60).ready == []  # not stranded either
        assert len(list(folder.processing.rglob("a.csv"))) == 1
    finally:
        proc.kill()
        proc.wait()
    assert [p.name for p in folder.recover_stale()] == ["a.csv"]


def test_the_sensor_sees_a_stranded_file_without_touching_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    _claim_and_die(tmp_path, folder, "a.csv")

    ready = folder.scan(now=time.time() + 60).ready

    assert len(ready) == 1 and ready[0].path == folder.root / "a.csv" and ready[0].stranded is not None
    assert ready[0].stranded.exists() and not (folder.root / "a.csv").exists()
    assert folder.hashed(ready[0]).sha256 is not None


def test_a_claim_left_by_an_older_version_without_owner_is_put_back_once_stale(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    legacy = folder.processing / "0123456789ab"
    legacy.mkdir()
    (legacy / "a.csv").write_text("x\n1\n")
    assert folder.recover_stale() == []  # fresh: its owner may still be working
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    assert [p.name for p in folder.recover_stale()] == ["a.csv"]


def test_a_no_clobber_move_never_replaces_a_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("src")
    dst.write_text("dst")
    with pytest.raises(FileExistsError):
        move_noclobber(src, dst)
    assert src.read_text() == "src" and dst.read_text() == "dst"
    os.symlink("/etc/hostname", tmp_path / "link")
    move_noclobber(tmp_path / "link", tmp_path / "moved")  # the link itself moves, not its target
    assert os.readlink(tmp_path / "moved") == "/etc/hostname"


def test_recovery_removes_the_temporary_files_a_killed_run_left_in_its_claim(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    _claim_and_die(tmp_path, folder, "a.csv")
    [claim_dir] = list(folder.processing.iterdir())
    (claim_dir / ".tmp-4242-0badf00d.json").write_text("{")  # a record it was writing when killed

    assert [p.name for p in folder.recover_stale()] == ["a.csv"]
    assert list(folder.processing.iterdir()) == [] and not list(folder.root.rglob(".tmp-*"))


def test_a_failure_right_after_claiming_puts_the_file_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faults

    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    faults.reset()  # count this test's hits only
    monkeypatch.setenv("MAESTRO_FAULTS", "drop.after_claim=raise")
    with pytest.raises(faults.FaultInjected):
        folder.claim(folder.root / "a.csv")
    assert (folder.root / "a.csv").read_text() == "x\n1\n" and list(folder.processing.iterdir()) == []
