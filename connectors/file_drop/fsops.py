"""The filesystem operations the drop folder is built on, each safe against a hostile folder.

- :func:`move_noclobber` never replaces an existing name: ``renameat2(RENAME_NOREPLACE)`` (atomic),
  or, where the kernel or filesystem lacks it, ``link`` + ``unlink`` (which cannot replace either).
- :func:`fit_name` / :func:`name_variant` keep every name we make within ``NAME_MAX`` bytes and
  keep its extensions, so a renamed ``x.csv.gz`` still matches ``*.csv.gz``.
- :func:`open_verified` opens a file once, never following a link, and checks what it opened (a
  regular file with one link, the inode that was listed) before a byte is read;
  :class:`VerifiedFile` hashes through that descriptor, offers a path to the *same* open file for a
  reader (``/proc/self/fd/N``) and tells whether the file changed since.
- :func:`write_private_json` writes a record atomically (temp file, fsync, rename), mode 0640.

Names may hold any bytes but ``/`` and NUL: they are handled as ``str`` with ``surrogateescape``
(``os.fsencode`` gives the bytes back) and measured in bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from connectors.file_drop.exceptions import FileChangedError, UnsafeEntryError

NAME_MAX = 255
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_CHUNK = 4 << 20
_renameat2: Any = None


def _libc_renameat2() -> Any:
    global _renameat2
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (AttributeError, OSError):
            _renameat2 = False
    return _renameat2 or None


def move_noclobber(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename ``src`` to ``dst``; :class:`FileExistsError` if ``dst`` exists (it is never replaced).

    Moves the entry itself: a symbolic link is moved, not followed.
    """
    fn = _libc_renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
    # No RENAME_NOREPLACE here: a hard link cannot replace a name either. (Not for directories.)
    os.link(src, dst, follow_symlinks=False)
    os.unlink(src)


def split_ext(name: str) -> tuple[str, str]:
    """``("orders", ".csv.gz")`` for ``orders.csv.gz``; a leading dot belongs to the stem."""
    dot = name.find(".", 1)
    return (name, "") if dot < 0 else (name[:dot], name[dot:])


def _cut(raw: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``raw``, not ending inside a UTF-8 sequence."""
    if len(raw) <= limit:
        return raw
    cut = limit
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:
        cut -= 1
    return raw[:cut]


def fit_name(name: str, *, reserve: int = 0) -> str:
    """``name`` shortened (the stem cut, the extensions kept) so it and ``reserve`` more bytes fit
    in ``NAME_MAX``. Names that fit are returned unchanged."""
    limit = NAME_MAX - reserve
    if len(os.fsencode(name)) <= limit:
        return name
    stem, ext = split_ext(name)
    raw_ext = os.fsencode(ext)
    if len(raw_ext) > 32:  # an absurd "extension": keep only the last suffix, if short
        last = ext[ext.rfind("."):]
        raw_ext = os.fsencode(last) if len(os.fsencode(last)) <= 32 else b""
    raw_stem = _cut(os.fsencode(stem), max(1, limit - len(raw_ext)))
    return os.fsdecode(raw_stem + raw_ext)


def name_variant(name: str, n: int, *, reserve: int = 0) -> str:
    """The ``n``-th alternative to a taken name: ``orders~2.csv.gz`` for ``orders.csv.gz``."""
    if n <= 1:
        return fit_name(name, reserve=reserve)
    tag = f"~{n}"
    stem, ext = split_ext(fit_name(name, reserve=reserve + len(tag)))
    return f"{stem}{tag}{ext}"


def free_path(path: Path, *, reserve: int = 0) -> Path:
    """``path``, or its first variant (:func:`name_variant`) whose name is not taken."""
    n = 1
    while True:
        candidate = path.with_name(name_variant(path.name, n, reserve=reserve))
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def shown(path: str | os.PathLike[str]) -> str:
    """A path as text for messages and records: bytes that are not UTF-8 shown as ``\\xff``
    (a raw name would break every UTF-8 encoder it meets: logs, JSON, the ledger)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def make_dirs(path: Path, *, mode: int = 0o750) -> None:
    """Create ``path`` and any missing parents with ``mode`` (``Path.mkdir`` gives parents 0777)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, mode)


def write_private_json(path: Path, payload: dict[str, Any], *, tmp_dir: Path | None = None) -> None:
    """Write ``payload`` to ``path`` atomically (mode 0640); the temp file lives in ``tmp_dir``
    (default: beside ``path``) so a crash leaves nothing half-written where readers look."""
    tmp = (tmp_dir or path.parent) / f".tmp-{os.getpid()}-{os.urandom(4).hex()}.json"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


KINDS = {
    stat.S_IFLNK: ("symlink", "a symbolic link (links are never followed: drop the file itself)"),
    stat.S_IFDIR: ("directory", "a folder"),
    stat.S_IFIFO: ("fifo", "a FIFO (named pipe), not a regular file"),
    stat.S_IFCHR: ("device", "a character device, not a regular file"),
    stat.S_IFBLK: ("device", "a block device, not a regular file"),
    stat.S_IFSOCK: ("socket", "a socket, not a regular file"),
}


def problem_of(st: os.stat_result) -> tuple[str, str] | None:
    """(code, reason) why an entry with this ``lstat`` is never read, or None for a plain file."""
    if not stat.S_ISREG(st.st_mode):
        return KINDS.get(stat.S_IFMT(st.st_mode), ("special", "not a regular file"))
    if st.st_nlink != 1:
        return (
            "hard_link",
            f"has {st.st_nlink} hard links (another name may point into a folder it must not "
            "reach): drop a copy instead",
        )
    return None


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)


class VerifiedFile:
    """A plain file opened once (see :func:`open_verified`); close it when done."""

    def __init__(self, fd: int, path: str, st: os.stat_result) -> None:
        self.fd, self.path, self.stat = fd, path, st
        self.sha256, self.size = self._hash()

    def _hash(self) -> tuple[str, int]:
        h, offset = hashlib.sha256(), 0
        while block := os.pread(self.fd, _CHUNK, offset):
            h.update(block)
            offset += len(block)
        return h.hexdigest(), offset

    @property
    def read_path(self) -> str:
        """A path that opens this very file (not whatever the name points to now)."""
        proc = f"/proc/self/fd/{self.fd}"
        return proc if os.path.exists(proc) else self.path

    def changes(self) -> list[str]:
        """What changed since the file was opened and hashed (empty: nothing), from ``fstat``."""
        now = os.fstat(self.fd)
        names = ("device", "inode", "size", "mtime", "ctime", "link count")
        return [n for n, a, b in zip(names, _identity(self.stat), _identity(now), strict=True) if a != b]

    def verify_unchanged(self, what: str) -> None:
        """Raise :class:`FileChangedError` unless the file is exactly as it was when hashed: same
        inode, size, mtime and ctime, and the same sha256 over its bytes now."""
        changed = self.changes()
        if not changed:
            digest, size = self._hash()
            if (digest, size) != (self.sha256, self.size):
                changed = ["content"]
        if changed:
            raise FileChangedError(
                f"{what}: changed while being read ({', '.join(changed)}; {self.size} bytes when claimed, "
                f"{os.fstat(self.fd).st_size} now): nothing committed; it is ingested whole once it "
                "stops changing (write it as <name>.part and rename it when complete)"
            )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> VerifiedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_verified(path: str | os.PathLike[str], *, expect: tuple[int, int] | None = None) -> VerifiedFile:
    """Open ``path`` for reading without following a link, check what was opened, hash it.

    Raises :class:`UnsafeEntryError` for anything but a regular file with one link, and
    :class:`FileChangedError` when the opened file is not ``expect`` (device, inode) as listed.
    """
    name = shown(path)
    before = os.lstat(path)
    problem = problem_of(before)
    if problem is not None:  # never open a FIFO or device: opening one may block or act
        raise UnsafeEntryError(name, problem[1], code=problem[0])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        if err.errno == errno.ELOOP:  # swapped for a link since the lstat above
            raise UnsafeEntryError(name, KINDS[stat.S_IFLNK][1], code="symlink") from err
        raise
    try:
        st = os.fstat(fd)
        problem = problem_of(st)
        if problem is not None:
            raise UnsafeEntryError(name, problem[1], code=problem[0])
        wanted = expect or (before.st_dev, before.st_ino)
        if (st.st_dev, st.st_ino) != wanted:
            raise FileChangedError(f"{name}: replaced by another file between listing and opening")
        return VerifiedFile(fd, name, st)
    except BaseException:
        os.close(fd)
        raise
