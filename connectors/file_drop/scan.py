"""What is in a drop folder right now: files ready to ingest, entries that never will be (and why),
and files stranded in claims of dead runs. Read-only: listing never moves, opens or follows
anything but plain files, and only hashes files it has not seen before.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from connectors.file_drop.claims import claim_dirs, claim_is_dead
from connectors.file_drop.config import TEMP_SUFFIXES, FileDropConfig
from connectors.file_drop.exceptions import FileChangedError, UnsafeEntryError
from connectors.file_drop.fsops import open_verified, problem_of

RESERVED = ("_processing", "_archive", "_quarantine")


@dataclass(frozen=True)
class DroppedFile:
    """An entry to ingest: a complete plain file, or one that will be quarantined unread
    (``problem`` says why: a link, a FIFO ...), or a file a dead run left claimed (``stranded``)."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str | None = None
    dev: int = 0
    ino: int = 0
    problem: str | None = None
    stranded: Path | None = None

    @property
    def ident(self) -> str:
        """Identity of this file as listed (inode, size, mtime): what the sensor caches by."""
        return f"{self.dev}:{self.ino}:{self.size}:{self.mtime_ns}"

    @property
    def run_key(self) -> str:
        """Stable for the same file however often it is seen; new when the file is dropped again."""
        if self.sha256 is None:
            return f"unread:{self.dev}:{self.ino}:{self.mtime_ns}"
        return f"{self.sha256}:{self.mtime_ns}"


@dataclass(frozen=True)
class IgnoredEntry:
    """An entry of the folder that is not ingested, and why (reported, never silently skipped)."""

    path: Path
    reason: str
    key: str


@dataclass
class Scan:
    ready: list[DroppedFile] = field(default_factory=list)
    ignored: list[IgnoredEntry] = field(default_factory=list)


def matches(config: FileDropConfig, name: str) -> bool:
    """Whether ``name`` is one of the source's patterns (case-insensitive: ``X.CSV`` is ``*.csv``)."""
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, p.lower()) for p in config.patterns)


def _why_ignored(config: FileDropConfig, name: str, st: os.stat_result) -> str | None:
    lower = name.lower()
    if stat.S_ISDIR(st.st_mode):
        return None if name in RESERVED else "a folder: only files at the top of the drop folder are read"
    if name.startswith("."):
        return "a hidden file (its name starts with a dot): not read"
    if lower.endswith(TEMP_SUFFIXES):
        return "waiting: a temporary name; rename it to its final name when it is complete"
    if matches(config, name):
        return None
    patterns = ", ".join(config.patterns)
    if lower.endswith(".zip"):
        return (f"a zip archive, which this source is not set to read (patterns: {patterns}): add *.zip "
                "to its patterns (each member is then an input), or unzip it here")
    return f"its name matches none of the patterns {patterns} (matching ignores case)"


def scan_folder(
    config: FileDropConfig, root: Path, *, now_ns: int, known: Mapping[str, str] | None = None,
    hash_new: bool = True,
) -> Scan:
    """List ``root``. ``known`` maps :attr:`DroppedFile.ident` to an already known sha256 (then the
    file is not read again); other plain files are hashed unless ``hash_new`` is false."""
    out = Scan()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return out
    settle_ns = int(config.settle_seconds * 1e9)
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # claimed by a run meanwhile
        path = Path(entry.path)
        reason = _why_ignored(config, entry.name, st)
        if reason is not None:
            out.ignored.append(IgnoredEntry(path, reason, f"{st.st_dev}:{st.st_ino}:{entry.name}"))
            continue
        if stat.S_ISDIR(st.st_mode) or now_ns - st.st_mtime_ns < settle_ns:
            continue  # one of ours, or still being written (or too fresh to tell)
        found = _entry(path, st, known, hash_new)
        if found is not None:
            out.ready.append(found)
    out.ready.sort(key=lambda f: (f.mtime_ns, f.path.name))
    return out


def _entry(path: Path, st: os.stat_result, known: Mapping[str, str] | None, hash_new: bool,
           stranded: Path | None = None) -> DroppedFile | None:
    problem = problem_of(st)
    f = DroppedFile(path, st.st_size, st.st_mtime_ns, None, st.st_dev, st.st_ino,
                    problem[1] if problem else None, stranded)
    if problem is None:
        sha = (known or {}).get(f.ident)
        if sha is not None:
            return replace(f, sha256=sha)
        if hash_new:
            return hash_entry(f)
    return f


def hash_entry(f: DroppedFile) -> DroppedFile | None:
    """``f`` with its sha256 (read through a descriptor opened without following links, checked to
    be the listed inode); None if it changed or left meanwhile, or turned out unsafe to read."""
    if f.sha256 is not None or f.problem is not None:
        return f
    try:
        with open_verified(f.stranded or f.path, expect=(f.dev, f.ino)) as opened:
            if opened.size != f.size or opened.stat.st_mtime_ns != f.mtime_ns:
                return None  # changed since listed: next tick
            return replace(f, sha256=opened.sha256)
    except (FileNotFoundError, FileChangedError, UnsafeEntryError):
        return None


def stranded_files(
    root: Path, processing: Path, *, stale_seconds: float, known: Mapping[str, str] | None = None,
    hash_new: bool = True,
) -> list[DroppedFile]:
    """Files in claims whose owner is gone, as entries of the drop folder (their ``path`` is where
    they go back). Only looks: the claim is not touched (a run puts the file back)."""
    out = []
    for d in claim_dirs(processing):
        dead = claim_is_dead(d, stale_seconds=stale_seconds, exclusive=False)
        if dead is None:
            continue
        try:
            for p in dead.files():
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                found = _entry(root / p.name, st, known, hash_new, stranded=p)
                if found is not None:
                    out.append(found)
        finally:
            dead.close(remove=False)
    return out


__all__ = ["RESERVED", "DroppedFile", "IgnoredEntry", "Scan", "hash_entry", "matches",
           "scan_folder", "stranded_files"]
