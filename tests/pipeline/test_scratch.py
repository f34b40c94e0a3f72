"""Scratch folders: a run removes its own, and those of killed runs, never a live process's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.scratch import scratch, sweep


def test_a_run_spools_into_its_own_folder_and_removes_it(tmp_path: Path) -> None:
    with scratch(tmp_path) as mine:
        assert tempfile.gettempdir() == str(mine)
        spooled = Path(tempfile.mkdtemp(prefix="maestro-quarantine-"))
        assert spooled.parent == mine
        assert oct(mine.stat().st_mode & 0o777) == "0o700"
    assert not mine.exists() and tempfile.gettempdir() != str(mine)


def test_the_next_run_removes_what_a_killed_run_left_and_keeps_a_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    code = (
        "import os, sys, time\nfrom pathlib import Path\nfrom pipeline.scratch import scratch\n"
        "with scratch(Path(sys.argv[1])) as d:\n    (d / 'spool.arrow').write_bytes(b'x' * 1000)\n"
        "    print(d, flush=True)\n    time.sleep(60)\n"
    )
    killed = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    live = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        dead_dir = Path(killed.stdout.readline().strip())
        live_dir = Path(live.stdout.readline().strip())
        killed.kill()
        killed.wait()
        assert (dead_dir / "spool.arrow").exists()  # a SIGKILL runs no cleanup
        # A recycled pid is not the owner: same pid, another start time.
        impostor = root / f"{os.getpid()}-1"
        impostor.mkdir()
        assert sorted(sweep(root)) == sorted([dead_dir, impostor])
        assert live_dir.exists() and not dead_dir.exists()
    finally:
        live.kill()
        live.wait()
