"""The drop folder's life cycle: complete -> claimed -> archived, or quarantined with a report.

Layout under the dataset's folder (users only ever write to the top level)::

    <folder>/x.csv                         dropped, waiting
    <folder>/_processing/<claim>/x.csv     claimed by one ingest run (atomic rename)
    <folder>/_archive/<yyyy-mm-dd>/<sha256[:16]>__x.csv   committed; .manifest.json beside it
    <folder>/_quarantine/<sha256[:16]>__x.csv             unreadable; .error.json beside it

Every move is a ``rename`` within one filesystem, so a file is always in exactly one place and
nothing is deleted. Claiming is atomic: of two runs renaming the same file, one wins and the other
gets ``FileNotFoundError`` and skips it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import sha256_file
from connectors.file_drop.config import TEMP_SUFFIXES, FileDropConfig

RESERVED = ("_processing", "_archive", "_quarantine")


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    size: int
    mtime_ns: int
    sha256: str

    @property
    def run_key(self) -> str:
        """Stable for the same file however often it is seen; new when the file is dropped again."""
        return f"{self.sha256}:{self.mtime_ns}"


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DropFolder:
    """Operations on one dataset's drop folder."""

    def __init__(self, config: FileDropConfig, *, base_dir: str | Path = ".") -> None:
        self.config = config
        folder = Path(config.folder)
        self.root = folder if folder.is_absolute() else Path(base_dir) / folder
        self.processing = self.root / "_processing"
        self.archive = self.root / "_archive"
        self.quarantine = self.root / "_quarantine"

    def ensure(self) -> None:
        for d in (self.root, self.processing, self.archive, self.quarantine):
            d.mkdir(parents=True, exist_ok=True)

    def _matches(self, name: str) -> bool:
        if name.startswith(".") or name.endswith(TEMP_SUFFIXES):
            return False
        return any(fnmatch.fnmatch(name, p) for p in self.config.patterns)

    def complete_files(self, *, now: float | None = None) -> list[DroppedFile]:
        """Files ready for pickup, oldest first (see :class:`FileDropConfig` for the rule)."""
        if not self.root.is_dir():
            return []
        now = time.time() if now is None else now
        out = []
        for entry in os.scandir(self.root):
            if not entry.is_file(follow_symlinks=False) or not self._matches(entry.name):
                continue
            st = entry.stat()
            if now - st.st_mtime < self.config.settle_seconds:
                continue  # still being written, or too fresh to tell
            try:
                digest, size = sha256_file(entry.path)
            except FileNotFoundError:
                continue  # claimed by someone else meanwhile
            out.append(DroppedFile(Path(entry.path), size, st.st_mtime_ns, digest))
        return sorted(out, key=lambda f: (f.mtime_ns, f.path.name))

    def claim(self, path: str | Path) -> Path | None:
        """Atomically move a dropped file into ``_processing``; None if another run got it first."""
        self.ensure()
        src = Path(path)
        target_dir = self.processing / uuid.uuid4().hex[:12]
        target_dir.mkdir(parents=True)
        try:
            os.rename(src, target_dir / src.name)
        except FileNotFoundError:
            target_dir.rmdir()
            return None
        return target_dir / src.name

    def archive_destination(self, claimed: Path, *, sha256: str) -> Path:
        """Where :meth:`archive_file` will put ``claimed``: known before the commit, so the
        manifest (and so the provenance trail) can name the file where it will stay."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return _free_name(self.archive / day / f"{sha256[:16]}__{claimed.name}")

    def archive_file(
        self, claimed: Path, *, sha256: str, record: dict[str, Any], dest: Path | None = None
    ) -> Path:
        """Move a committed file into the archive with its manifest beside it."""
        dest = dest or self.archive_destination(claimed, sha256=sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _write_json(dest.with_name(dest.name + ".manifest.json"), record)
        os.rename(claimed, dest)
        _remove_empty(claimed.parent)
        return dest

    def quarantine_destination(self, claimed: Path, *, sha256: str) -> Path:
        """Where :meth:`quarantine_file` will put ``claimed``."""
        return _free_name(self.quarantine / f"{sha256[:16]}__{claimed.name}")

    def quarantine_file(
        self, claimed: Path, *, sha256: str, error: str, detail: dict[str, Any], dest: Path | None = None
    ) -> Path:
        """Move an unreadable file into quarantine with an error report beside it."""
        self.quarantine.mkdir(parents=True, exist_ok=True)
        dest = dest or self.quarantine_destination(claimed, sha256=sha256)
        report = {
            "file": claimed.name,
            "sha256": sha256,
            "error": error,
            "quarantined_at": datetime.now(UTC).isoformat(),
            **detail,
        }
        _write_json(dest.with_name(dest.name + ".error.json"), report)
        os.rename(claimed, dest)
        _remove_empty(claimed.parent)
        return dest

    def recover_stale(self, *, older_than_s: float = 900.0) -> list[Path]:
        """Return claimed files of crashed runs to the drop folder (touched, so they are re-seen)."""
        back = []
        if not self.processing.is_dir():
            return back
        cutoff = time.time() - older_than_s
        for claim_dir in self.processing.iterdir():
            for f in claim_dir.iterdir() if claim_dir.is_dir() else []:
                if f.stat().st_mtime < cutoff and claim_dir.stat().st_mtime < cutoff:
                    dest = self.root / f.name
                    os.rename(f, dest)
                    os.utime(dest)
                    back.append(dest)
            _remove_empty(claim_dir)
        return back


def _free_name(path: Path) -> Path:
    """``path``, or ``path`` with ``.2``, ``.3`` ... inserted before the suffix if taken."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
    return candidate


def _remove_empty(d: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: another claim still uses it
        d.rmdir()
