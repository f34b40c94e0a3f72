"""Zip archives as inputs: each file member is one input, read as a stream, never extracted.

An input inside an archive is named by the archive's URI plus a fragment naming the member:
``file:///landing/drop/orders/_archive/2026-11-01/ab12__x.zip#member=orders.csv`` (the name
percent-encoded). :func:`member_uri` and :func:`split_member` build and split such URIs.

Contract:

- :func:`list_members` lists the file members of an archive (directories hold no data and are
  left out). It raises :class:`~connectors.exceptions.SourceUnreadableError`, rejecting the archive
  whole, when it is not a readable zip file, has no file member or more than ``max_archive_members``, two
  members of one name, members whose stored bytes overlap (the "overlapping zip bomb"), or declared
  sizes that together inflate past the caps of :class:`~connectors.decode.ReadLimits`.
- :func:`open_member` streams one member's decoded bytes, capped like any decoded input (the
  declared size and ratio are checked before the first byte, the actual bytes while reading; zip
  itself stops at the declared size and checks the CRC at the end). It refuses, with an error naming
  the archive, the member and the reason: names that are absolute or contain ``..`` (they never
  touch the filesystem anyway: nothing is extracted), nested archives (a zip or gzip inside),
  encrypted members and compression methods Python cannot decode.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

from connectors.decode import GZIP_MAGIC, ZIP_MAGIC, BinaryStream, CappedStream, ReadLimits, excerpt
from connectors.exceptions import SourceUnreadableError

ARCHIVE_SUFFIXES = (".zip",)
_NESTED_SUFFIXES = (".zip", ".gz", ".tgz", ".7z", ".rar", ".tar", ".bz2", ".xz", ".zst", ".jar")
_FRAGMENT = "#member="
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass(frozen=True)
class Member:
    """One file member of an archive, as its central directory declares it."""

    name: str
    file_size: int
    compress_size: int


def is_archive(name: str) -> bool:
    """Whether a file of this name is read as an archive of inputs."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def member_uri(archive_uri: str, name: str) -> str:
    """``archive_uri#member=<name>`` with the name percent-encoded.

    >>> member_uri("file:///d/x.zip", "in/orders 1.csv")
    'file:///d/x.zip#member=in/orders%201.csv'
    """
    return f"{archive_uri}{_FRAGMENT}{quote(name, safe='/')}"


def split_member(uri: str) -> tuple[str, str | None]:
    """``(archive URI, member name)`` of a member URI; ``(uri, None)`` for any other URI.

    >>> split_member("file:///d/x.zip#member=in/orders%201.csv")
    ('file:///d/x.zip', 'in/orders 1.csv')
    """
    base, sep, name = uri.partition(_FRAGMENT)
    return (base, unquote(name)) if sep else (uri, None)


def _open_zip(path: str | os.PathLike[str], label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise SourceUnreadableError(
            f"{label}: not a readable zip archive: {type(err).__name__}: {excerpt(str(err), 200)}"
        ) from err


def list_members(path: str | os.PathLike[str], *, label: str, limits: ReadLimits) -> list[Member]:
    """The archive's file members, in archive order (see the module docstring for refusals)."""
    with _open_zip(path, label) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    if not infos:
        raise SourceUnreadableError(f"{label}: the archive has no file members: there is nothing to read")
    if len(infos) > limits.max_archive_members:
        raise SourceUnreadableError(
            f"{label}: the archive has {len(infos):,} members, more than the limit of "
            f"{limits.max_archive_members:,} (limits.max_archive_members)"
        )
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise SourceUnreadableError(
                f"{label}: the archive holds two members named {excerpt(info.filename)}; "
                "which one is meant is ambiguous, so none is read"
            )
        seen.add(info.filename)
    by_offset = sorted(infos, key=lambda i: i.header_offset)
    for a, b in zip(by_offset, by_offset[1:], strict=False):
        if a.header_offset + a.compress_size > b.header_offset:
            raise SourceUnreadableError(
                f"{label}: members {excerpt(a.filename)} and {excerpt(b.filename)} share stored bytes "
                "(an overlapping-member zip bomb); the archive is refused"
            )
    declared = sum(i.file_size for i in infos)
    stored = max(os.path.getsize(path), 1)
    if declared > limits.max_decoded_bytes or (
        declared > limits.ratio_grace_bytes and declared > limits.max_expansion_ratio * stored
    ):
        raise SourceUnreadableError(
            f"{label}: the members declare {declared:,} bytes in all from a {stored:,}-byte archive, "
            f"past the caps (limits.max_decoded_bytes {limits.max_decoded_bytes:,}, "
            f"limits.max_expansion_ratio {limits.max_expansion_ratio:g}); a zip bomb, or raise the caps"
        )
    return [Member(i.filename, i.file_size, i.compress_size) for i in infos]


def _refusal(info: zipfile.ZipInfo, limits: ReadLimits) -> str | None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        return "its name is absolute or contains '..' (nothing is extracted, but such a name is hostile)"
    if name.lower().endswith(_NESTED_SUFFIXES):
        return "it is itself an archive or compressed file; nested archives are refused"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    if info.compress_type not in _METHODS:
        return f"its compression method ({info.compress_type}) is not supported"
    if info.file_size > limits.max_decoded_bytes:
        return (
            f"it declares {info.file_size:,} bytes, past the cap of {limits.max_decoded_bytes:,} "
            "(limits.max_decoded_bytes)"
        )
    if info.file_size > limits.ratio_grace_bytes and info.file_size > limits.max_expansion_ratio * max(
        info.compress_size, 1
    ):
        return (
            f"it declares {info.file_size:,} bytes from {info.compress_size:,} stored, more than "
            f"{limits.max_expansion_ratio:g} times (limits.max_expansion_ratio): a zip bomb"
        )
    return None


@contextlib.contextmanager
def open_member(
    path: str | os.PathLike[str], name: str, *, label: str, limits: ReadLimits
) -> Iterator[BinaryStream]:
    """Stream the decoded bytes of member ``name`` of the archive at ``path``."""
    with _open_zip(path, label) as zf:
        try:
            info = zf.getinfo(name)
        except KeyError as err:
            raise SourceUnreadableError(f"{label}: the archive has no member {excerpt(name)}") from err
        problem = _refusal(info, limits)
        if problem:
            raise SourceUnreadableError(f"{label}: zip member {excerpt(name)} is refused: {problem}")
        try:
            member = zf.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, ValueError) as err:
            raise SourceUnreadableError(
                f"{label}: zip member {excerpt(name)} cannot be opened: {excerpt(str(err), 200)}"
            ) from err
        with member:
            stream = CappedStream(
                member, label=label, limits=limits, stored=lambda: info.compress_size, codec="zip member"
            )
            head = stream.read(4)
            if head.startswith((ZIP_MAGIC, GZIP_MAGIC)):
                raise SourceUnreadableError(
                    f"{label}: zip member {excerpt(name)} is refused: it is itself an archive or "
                    "compressed file; nested archives are refused"
                )
            yield _Prepended(head, stream)


class _Prepended:
    """``stream`` with ``head`` (already read from it) put back in front."""

    def __init__(self, head: bytes, stream: CappedStream) -> None:
        self._head, self._stream = head, stream

    def read(self, n: int = 1 << 20) -> bytes:
        if self._head:
            head, self._head = self._head[:n], self._head[n:]
            return head if len(head) == n else head + self._stream.read(n - len(head))
        return self._stream.read(n)
