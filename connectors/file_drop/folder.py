"""The drop folder's life cycle: complete -> claimed -> archived, quarantined or put back.

Layout under the dataset's folder (users only ever write to the top level)::

    <folder>/x.csv                               dropped, waiting
    <folder>/_processing/<claim>/x.csv           claimed by one run (see claims.py: .owner, flock)
    <folder>/_archive/<yyyy-mm-dd>/<sha256[:16]>__x.csv   committed; .manifest.json beside it
    <folder>/_quarantine/<sha256[:16]>__x.csv    rejected whole; .error.json beside it
    <folder>/_quarantine/<reason>__x.csv         never read (a link, a FIFO ...); .error.json beside

Promises:

- Nothing is overwritten or deleted: every move is no-clobber (``renameat2(RENAME_NOREPLACE)``);
  a taken name gets a free variant (``x~2.csv``), so a file put back beside a newer one of the
  same name leaves both in the folder.
- A file is claimed by one process at a time, which holds a lock for as long as the file is in
  its claim; a claim whose owner is gone is put back by the next run (:meth:`recover_stale`).
- Only plain files with one link are read, through a descriptor opened without following links
  and checked to be the inode that was claimed; anything else is moved to ``_quarantine/`` unread.
- Requested paths are confined to the folder (:meth:`confine`); nothing outside it is ever moved.
- Every record (manifest, error report) names the path where the file really is.
- Folders we create are 0750 (claims 0700); records are 0640.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlparse

import faults
from connectors.file_drop.claims import Claim, claim_dirs, claim_is_dead, new_claim
from connectors.file_drop.config import FileDropConfig
from connectors.file_drop.exceptions import DropPathError
from connectors.file_drop.fsops import (
    VerifiedFile,
    free_path,
    make_dirs,
    move_noclobber,
    open_verified,
    shown,
    write_private_json,
)
from connectors.file_drop.scan import (
    RESERVED,
    DroppedFile,
    Scan,
    hash_entry,
    matches,
    scan_folder,
    stranded_files,
)

MANIFEST_SUFFIX = ".manifest.json"
ERROR_SUFFIX = ".error.json"
_RESERVE = len(MANIFEST_SUFFIX) + 8  # room for the record beside a file, and a ~NN variant


class DropFolder:
    """Operations on one dataset's drop folder."""

    def __init__(self, config: FileDropConfig, *, base_dir: str | Path = ".") -> None:
        self.config = config
        folder = Path(config.folder)
        self.root = (folder if folder.is_absolute() else Path(base_dir) / folder).absolute()
        self.base_dir = Path(base_dir).absolute()
        self.processing = self.root / "_processing"
        self.archive = self.root / "_archive"
        self.quarantine = self.root / "_quarantine"
        self._opened: dict[str, VerifiedFile] = {}

    def ensure(self) -> None:
        make_dirs(self.root)
        for d in (self.processing, self.archive, self.quarantine):
            make_dirs(d)
            with contextlib.suppress(OSError):  # ours: tighten folders older versions made 0755
                if not d.is_symlink():
                    os.chmod(d, 0o750)

    # -- listing ---------------------------------------------------------------------------------

    def matches(self, name: str) -> bool:
        return matches(self.config, name)

    def scan(self, *, now: float | None = None, known: dict[str, str] | None = None,
             hash_new: bool = True) -> Scan:
        """Entries ready to ingest (files stranded by dead runs included) and entries ignored."""
        now_ns = time.time_ns() if now is None else int(now * 1e9)
        out = scan_folder(self.config, self.root, now_ns=now_ns, known=known, hash_new=hash_new)
        out.ready += stranded_files(
            self.root, self.processing, stale_seconds=self.config.stale_claim_seconds, known=known,
            hash_new=hash_new,
        )
        return out

    def hashed(self, f: DroppedFile) -> DroppedFile | None:
        return hash_entry(f)

    def complete_files(self, *, now: float | None = None) -> list[DroppedFile]:
        """Plain files ready for pickup, oldest first (see :class:`FileDropConfig` for the rule)."""
        return [f for f in self.scan(now=now).ready if f.problem is None and f.stranded is None]

    def confine(self, ref: str) -> Path:
        """The drop-folder path a requested input names, or :class:`DropPathError`.

        ``ref`` is a path (absolute, relative to the base folder, or a bare file name), or a
        ``file://`` URI (how names that are not UTF-8 travel). It must name an entry directly in
        this folder whose name matches the patterns; nothing else is ever claimed or moved.
        """
        raw = ref
        if ref.startswith("file://"):
            raw = os.fsdecode(unquote_to_bytes(urlparse(ref).path))
        p = Path(raw)
        if not p.is_absolute():
            p = self.root / p if len(p.parts) == 1 else self.base_dir / p
        where = f"the drop folder {shown(self.root)} of source {self.config.name!r}"
        if os.path.realpath(p.parent) != os.path.realpath(self.root) or p.name in ("", ".", "..", *RESERVED):
            raise DropPathError(f"{ref}: not a file of {where}; refused (nothing was read or moved)")
        if not self.matches(p.name):
            raise DropPathError(
                f"{ref}: its name matches none of the patterns {', '.join(self.config.patterns)} of "
                f"{where}; refused (nothing was read or moved)"
            )
        return self.root / p.name

    # -- claiming and reading --------------------------------------------------------------------

    def claim(self, path: str | Path) -> Claim | None:
        """Move ``path`` (an entry of the folder) into a new claim of this process; None if it is
        gone (another run claimed it first, or it was already processed)."""
        self.ensure()
        src = Path(path)
        if os.path.isdir(src) and not os.path.islink(src):
            raise DropPathError(f"{shown(src)}: a folder, not a file; only files are ingested (not moved)")
        claim = new_claim(self.processing)
        claim.name = src.name
        try:
            move_noclobber(src, claim.path)
        except FileNotFoundError:
            claim.close()
            return None
        except BaseException:
            claim.close()
            raise
        try:
            faults.point("drop.after_claim")
        except BaseException:  # a failure right after claiming: the file goes back at once
            self.release(claim)
            claim.close()
            raise
        return claim

    def open_claimed(self, claim: Claim) -> VerifiedFile:
        """Open the claimed file once (no link followed, a plain file with one link), hash it, and
        let this source's reader read exactly that open file (:meth:`readable_path`)."""
        opened = open_verified(claim.path)
        for key in _keys(claim.path):
            self._opened[key] = opened
        return opened

    def forget(self, claim: Claim) -> None:
        opened = None
        for key in _keys(claim.path):
            opened = self._opened.pop(key, None) or opened
        if opened is not None:
            opened.close()

    def readable_path(self, path: str) -> str:
        """What a reader opens for the claimed ``path``: the file verified when it was opened, not
        whatever the name points to now (``path`` itself when it was not opened here)."""
        opened = self._opened.get(path)
        return opened.read_path if opened is not None else path

    # -- settling a claim ------------------------------------------------------------------------

    def archive_destination(self, name: str, *, sha256: str) -> Path:
        """A free archive path for a file: known before the commit, so the manifest (and so the
        provenance trail and every row's source pointer) names the file where it will stay."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return free_path(self.archive / day / f"{sha256[:16]}__{name}", reserve=_RESERVE)

    def archive_file(self, claim: Claim, *, dest: Path, record: dict[str, Any]) -> Path:
        """Move a committed file to ``dest`` (or a free variant if taken), its manifest beside it."""
        return self._settle(claim, dest, MANIFEST_SUFFIX, lambda _: record, "drop.archive")

    def quarantine_destination(self, name: str, *, prefix: str) -> Path:
        return free_path(self.quarantine / f"{prefix}__{name}", reserve=_RESERVE)

    def quarantine_file(
        self, claim: Claim, *, prefix: str, report: Callable[[Path], dict[str, Any]]
    ) -> Path:
        """Move a rejected entry into quarantine with an error report beside it; ``report(dest)``
        builds the report for where the entry will be (its error names that path)."""
        dest = self.quarantine_destination(claim.name, prefix=prefix)
        stamp = {"file": claim.name, "quarantined_at": datetime.now(UTC).isoformat()}
        return self._settle(claim, dest, ERROR_SUFFIX, lambda d: {**stamp, **report(d)}, "drop.quarantine")

    def _settle(
        self, claim: Claim, dest: Path, suffix: str, record: Callable[[Path], dict[str, Any]], step: str
    ) -> Path:
        """Record first, then the move: a crash between them leaves a record and the file still
        claimed (put back and settled again later, the record rewritten), never a file without one."""
        make_dirs(dest.parent)
        while True:
            side = dest.with_name(dest.name + suffix)
            write_private_json(side, {**record(dest), "path": str(dest)}, tmp_dir=claim.tmp_dir())
            faults.point(f"{step}.after_record")
            try:
                move_noclobber(claim.path, dest)
                break
            except FileExistsError:  # taken since we chose it: the record follows to a free name
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(side)
                dest = free_path(dest, reserve=_RESERVE)
        self.forget(claim)
        faults.point(f"{step}.after_move")
        return dest

    def release(self, claim: Claim) -> Path:
        """Put a claimed file back into the folder, unchanged (same inode and mtime, so the same
        run key), under its name, or a free variant if a newer file took that name meanwhile."""
        self.forget(claim)
        back = _put_back(claim.path, self.root)
        faults.point("drop.after_release")
        return back

    def recover_stale(self) -> list[Path]:
        """Put back every file of every claim whose owner is gone; where each went."""
        back: list[Path] = []
        for d in claim_dirs(self.processing):
            dead = claim_is_dead(d, stale_seconds=self.config.stale_claim_seconds, exclusive=True)
            if dead is None:
                continue
            try:
                for f in dead.files():
                    back.append(_put_back(f, self.root))
                    faults.point("drop.after_recover")
            finally:
                dead.close()
        return back

    def write_record(self, path: Path, suffix: str, record: dict[str, Any]) -> Path:
        """Write a record beside ``path`` (e.g. a note beside an archived copy)."""
        side = path.with_name(path.name + suffix)
        write_private_json(side, {**record, "path": str(path)})
        return side


def _keys(path: Path) -> set[str]:
    """The names a reader may use for ``path``: itself, and as decoded from its file URI (where a
    byte that is not UTF-8 becomes U+FFFD)."""
    return {os.fspath(path), unquote(path.as_uri()[len("file://"):])}


def _put_back(src: Path, root: Path) -> Path:
    dest = root / src.name
    while True:
        try:
            move_noclobber(src, dest)
            return dest
        except FileExistsError:
            dest = free_path(root / src.name)


__all__ = ["DropFolder", "DroppedFile"]
