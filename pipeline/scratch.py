"""Scratch space of an ingest run: temporary files that a killed run cannot leak for ever.

Everything an ingest spools (rejected rows, fetched S3 objects, key sets spilled to disk,
decompressed inputs) goes through :mod:`tempfile`. During :func:`ingest_dataset
<pipeline.run.ingest_dataset>` that points into ``$MAESTRO_HOME/tmp/<pid>-<start time>/``, a
folder of this process only (mode 0700). A run that exits removes its folder; a run that is
killed cannot, so every run first removes the folders of processes that are gone (by pid and
process start time, so a recycled pid is not mistaken for the owner). One ingest at a time per
process (Dagster's in-process executor runs assets one after another).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

_lock = threading.Lock()


def _tag(pid: int) -> str | None:
    try:
        return f"{pid}-{int(psutil.Process(pid).create_time() * 1000)}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def sweep(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` whose process is gone; return them."""
    removed = []
    for entry in root.iterdir() if root.is_dir() else []:
        pid_text, _, _ = entry.name.partition("-")
        if not pid_text.isdigit() or _tag(int(pid_text)) == entry.name:
            continue  # not ours, or its process is alive
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch(home: Path) -> Iterator[Path]:
    """Point :mod:`tempfile` at this process's scratch folder under ``home/tmp`` for the block."""
    root = home / "tmp"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep(root)
    tag = _tag(os.getpid())
    assert tag is not None
    mine = root / tag
    mine.mkdir(exist_ok=True, mode=0o700)
    with _lock:
        previous, tempfile.tempdir = tempfile.tempdir, str(mine)
    try:
        yield mine
    finally:
        with _lock:
            tempfile.tempdir = previous
        shutil.rmtree(mine, ignore_errors=True)
