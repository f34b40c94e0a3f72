"""Claims: which process is working on a dropped file, robust to crashes and pid reuse.

A claim is a folder ``_processing/<id>/`` holding the claimed file under its own name and an
``.owner`` file. The claiming process creates ``.owner``, takes an exclusive ``flock`` on it and
only then moves the file in; it keeps the lock until the file has left the claim (archived,
quarantined or put back). The kernel drops the lock when the process dies, however it dies, so

    a claim holding a file whose ``.owner`` lock can be taken belongs to a process that is gone.

``.owner`` also records host, pid and the process's start time, for filesystems without ``flock``
(then a claim of this host is dead when its pid is gone or started at another time) and for people.
Claims without an ``.owner`` (made by older versions) are dead once older than ``stale_seconds``.
Temporary files the claim's owner writes live in the claim folder, so a crash leaks nothing outside
it and recovery removes them with the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OWNER = ".owner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None if unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _owner_record() -> bytes:
    record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": _start_time(os.getpid()),
        "claimed_at": time.time(),
    }
    return json.dumps(record).encode()


def _record_says_dead(lock_fd: int, mtime: float, stale_seconds: float) -> bool:
    """Fallback when the lock cannot be tested: the owner record's host, pid and start time."""
    try:
        record = json.loads(os.pread(lock_fd, 4096, 0) or b"{}")
    except ValueError:
        record = {}
    if record.get("host") == socket.gethostname() and isinstance(record.get("pid"), int):
        start = _start_time(record["pid"])
        return start is None or start != record.get("start")
    return time.time() - mtime > stale_seconds  # another host (or no record): only age tells


@dataclass
class Claim:
    """A file this process claimed: ``dir/name``, ``.owner`` locked through ``lock_fd``."""

    dir: Path
    name: str
    lock_fd: int

    @property
    def path(self) -> Path:
        return self.dir / self.name

    def tmp_dir(self) -> Path:
        """Where this claim's owner writes temporary files (removed with the claim)."""
        return self.dir

    def holds_file(self) -> bool:
        return os.path.lexists(self.path)

    def close(self) -> None:
        """Remove the (now empty) claim folder, then drop the lock; a file still inside stays,
        and the next run releases it (its owner is gone once the lock is)."""
        if self.lock_fd < 0:
            return
        remove_claim_dir(self.dir)
        os.close(self.lock_fd)
        self.lock_fd = -1


def new_claim(processing: Path) -> Claim:
    """An empty claim folder whose ``.owner`` lock this process holds (move the file in next)."""
    d = processing / uuid.uuid4().hex[:16]
    os.mkdir(d, 0o700)
    fd = os.open(d / OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a recovery pass peeks at it
        os.write(fd, _owner_record())
    except BaseException:
        os.close(fd)
        remove_claim_dir(d)
        raise
    return Claim(d, "", fd)


def remove_claim_dir(d: Path) -> None:
    """Remove our own files (``.owner``, ``.tmp-*``) and the folder, if nothing else is inside."""
    with contextlib.suppress(OSError):
        entries = os.listdir(d)
        if all(e == OWNER or e.startswith(".tmp-") for e in entries):
            for e in entries:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(d / e)
            os.rmdir(d)


@dataclass
class DeadClaim:
    """A claim folder whose owner is gone; the lock is held by us until :meth:`close`."""

    dir: Path
    lock_fd: int | None

    def files(self) -> list[Path]:
        """What the dead owner left to put back: every entry but ours and folders."""
        out = []
        try:
            entries = sorted(os.listdir(self.dir))
        except FileNotFoundError:  # recovered by another run meanwhile
            return out
        for e in entries:
            p = self.dir / e
            if e == OWNER or e.startswith(".tmp-") or (p.is_dir() and not p.is_symlink()):
                continue
            out.append(p)
        return out

    def close(self, *, remove: bool = True) -> None:
        """Drop the lock; with ``remove``, first remove the folder if only our own files are left."""
        if remove:
            remove_claim_dir(self.dir)
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


def claim_is_dead(d: Path, *, stale_seconds: float, exclusive: bool) -> DeadClaim | None:
    """A :class:`DeadClaim` if ``d``'s owner is gone (its lock held by us: ``exclusive`` for a
    recovery that will move files, shared for a look), else None (alive, or being set up)."""
    try:
        fd = os.open(d / OWNER, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            age = time.time() - os.lstat(d).st_mtime
        except FileNotFoundError:
            return None
        return DeadClaim(d, None) if age > stale_seconds else None
    except OSError:
        return None  # not ours to judge (a link, a folder named .owner ...)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None  # its owner is alive
    except OSError:  # no flock on this filesystem: fall back on the owner record
        if not _record_says_dead(fd, os.fstat(fd).st_mtime, stale_seconds):
            os.close(fd)
            return None
    return DeadClaim(d, fd)


def claim_dirs(processing: Path) -> Iterator[Path]:
    """Every claim folder (real folders only, never a link planted in ``_processing/``)."""
    try:
        entries = list(os.scandir(processing))
    except FileNotFoundError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            yield Path(e.path)
