"""What killed pulls leave in a spool folder: partial files are never data, a described spool is
listed for the caller to settle, and the folder's lock dies with its holder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connectors.http_pull import SpoolLock, clear_unfinished, finished_pulls, remove_pull


def test_unfinished_files_are_removed_and_described_spools_are_kept(tmp_path: Path) -> None:
    for name in ("a.ndjson.part", "b.ndjson", "c.ndjson.pull.json", "d.ndjson", "d.ndjson.pull.json",
                 "e.ndjson.pull.json.tmp"):
        (tmp_path / name).write_text("{}\n")
    (tmp_path / "_rejected").mkdir()
    (tmp_path / "_rejected" / "f.ndjson").write_text("{}\n")
    removed = sorted(p.name for p in clear_unfinished(tmp_path))
    # a partial spool, a spool killed before its description, a description without its spool
    assert removed == ["a.ndjson.part", "b.ndjson", "c.ndjson.pull.json", "e.ndjson.pull.json.tmp"]
    assert [p.name for p in finished_pulls(tmp_path)] == ["d.ndjson.pull.json"]
    remove_pull(tmp_path / "d.ndjson")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_rejected"]  # rejected originals stay
    assert clear_unfinished(tmp_path / "missing") == [] and finished_pulls(tmp_path / "missing") == []


def test_a_second_holder_waits_then_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    with (
        SpoolLock(tmp_path),
        pytest.raises(TimeoutError, match="another pull holds .*lock"),
        SpoolLock(tmp_path, wait_s=0.2),
    ):
        pass
    with SpoolLock(tmp_path, wait_s=0.2):
        pass  # released on exit


def test_the_lock_of_a_killed_pull_is_released_with_its_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from connectors.http_pull import SpoolLock
            with SpoolLock({str(tmp_path)!r}):
                print("held", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError), SpoolLock(tmp_path, wait_s=0.1):
            pass
        holder.kill()
        holder.wait(timeout=10)
        with SpoolLock(tmp_path, wait_s=5):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
