"""The checkpoint list of the local store: one signed note per file, never rewritten.

Contract: checkpoint `N` lives in `<ledger>/checkpoints/NNNNNNNNNN.note`. A new one is written
to a private temporary file, fsync'd, then hard-linked to its final name — `link` fails rather
than overwrite, so a checkpoint file appears whole or not at all and is never replaced. A crash
can leave a temporary file behind; it was never part of the list and is removed on recovery.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from provenance.exceptions import LedgerCorruptError
from provenance.ledger.local_index import pwrite_all

__all__ = ["CheckpointDir", "fsync_dir"]

_NOTE = re.compile(r"(\d{10})\.note")


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that files created or renamed in it survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointDir:
    """The append-only list of signed checkpoint notes in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, number: int) -> Path:
        """The file of checkpoint `number`."""
        return self.folder / f"{number:010d}.note"

    def numbers(self) -> list[int]:
        """Numbers of the stored checkpoints, ascending (gaps mean a file was deleted)."""
        if not self.folder.is_dir():
            return []
        found = (_NOTE.fullmatch(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def read(self, number: int) -> bytes:
        """The note bytes of checkpoint `number`."""
        try:
            return self.path(number).read_bytes()
        except OSError as err:
            raise LedgerCorruptError(
                f"checkpoint {number} in {self.folder} cannot be read: {err}",
                index=number,
                kind="checkpoint",
            ) from err

    def add(self, note: bytes) -> int:
        """Durably append a note after the highest-numbered one; return its number."""
        numbers = self.numbers()
        number = numbers[-1] + 1 if numbers else 0
        self.folder.mkdir(exist_ok=True)
        tmp = self.folder / f".tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            pwrite_all(fd, note, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.path(number))  # never overwrites an existing checkpoint
        finally:
            tmp.unlink()
        fsync_dir(self.folder)
        return number

    def remove_stale(self) -> None:
        """Delete temporary files of checkpoint writes that a crash interrupted."""
        for stale in self.folder.glob(".tmp-*"):
            stale.unlink()
