"""Drop-folder errors. Terminal ones quarantine the entry (or refuse the request); retryable ones
put the file back into the folder for a later run."""

from __future__ import annotations

from connectors.exceptions import SourceConfigError, SourceUnavailableError, SourceUnreadableError


class UnsafeEntryError(SourceUnreadableError):
    """Terminal: the entry is not a plain file of its own (a symbolic link, a hard link, a FIFO, a
    device ...); it is never opened or followed, only moved to ``_quarantine/`` with the reason."""

    def __init__(self, path: str, reason: str, *, code: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason
        self.code = code


class FileChangedError(SourceUnavailableError):
    """Retryable: the file changed while it was claimed or read (still being written, or swapped).

    Nothing of it is committed; the file goes back into the drop folder and is ingested whole once
    it has stopped changing.
    """


class DropPathError(SourceConfigError):
    """Terminal: a requested input is not a file of this source's drop folder (it is refused and
    never moved)."""
