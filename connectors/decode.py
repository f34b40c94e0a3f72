"""Stored bytes to the bytes a format reader parses: decompression with caps, bounded messages.

Every text reader (CSV, NDJSON) reads its input through :func:`open_decoded`, which returns a
binary stream of the *decoded* bytes, whatever the input is stored as:

- plain bytes;
- gzip, recognised by its magic bytes (``.gz`` files, S3 objects stored with
  ``Content-Encoding: gzip``), every member of a multi-member file, streamed: nothing is inflated to
  disk;
- a member of a zip archive (see :mod:`connectors.archive`).

Contract:

- The decoded stream is capped by :class:`ReadLimits`: it raises :class:`DecodeLimitError` (a
  terminal :class:`~connectors.exceptions.SourceUnreadableError`: the input is quarantined whole)
  as soon as the decoded bytes pass ``max_decoded_bytes``, or pass ``max_expansion_ratio`` times
  the stored bytes read so far once past ``ratio_grace_bytes``. The message names the input, the
  cap and the setting that raises it. Memory is one read buffer; temporary disk is never used,
  except by :func:`spool_decoded` for formats that need random access (Parquet), whose file is
  bounded by the same caps.
- Corrupt or truncated compressed data, and compressions we do not decode (bzip2, xz, zstd, a zip
  archive named like a plain file), raise ``SourceUnreadableError`` naming the input and the
  problem.
- :func:`content_digest` is the sha256 of the decoded bytes of an encoded input (``None`` for
  plain bytes, whose stored hash already is their content hash): identical content stored
  differently (``x.csv`` and ``x.csv.gz``) is one input.

Nothing here imports pyarrow or dagster.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import faults
from connectors.exceptions import SourceConfigError, SourceUnreadableError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
READ_BYTES = 1 << 20
# What a failing decompressor raises: a truncated or corrupt stream, a bad CRC, an unsupported method.
_DECODE_ERRORS = (
    OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError
)


class DecodeLimitError(SourceUnreadableError):
    """Terminal: decoding an input passed a cap (a decompression bomb, or a legitimately huge input
    whose cap should be raised in the source's ``limits``)."""


@dataclass(frozen=True)
class ReadLimits:
    """Caps every reader applies to one input, set per source under ``limits:``.

    Attributes:
        max_decoded_bytes: decoded bytes of one input (16 GiB). Also bounds the temporary file of a
            compressed Parquet input.
        max_expansion_ratio: decoded bytes per stored byte (100; gzip bombs reach ~1,000), checked
            once ``ratio_grace_bytes`` (64 MiB) are decoded, so small, very regular files pass.
        max_line_bytes: one CSV record or NDJSON line (8 MiB). A longer one becomes a row with
            reason ``line_too_long`` (``field_too_large`` for a quoted CSV field that never ends)
            holding its first ``raw_excerpt_bytes`` (64 KiB); the input goes on.
        max_columns: columns of one input (10,000): a wider CSV header rejects the input; NDJSON
            lines bringing keys past it become ``too_many_columns`` rows.
        max_json_depth: nesting of one NDJSON value (64); deeper lines become ``json_depth`` rows.
        max_archive_members: file members of one zip archive (10,000).

    >>> ReadLimits.from_dict({"max_expansion_ratio": 50}, source="drop").max_expansion_ratio
    50.0
    """

    max_decoded_bytes: int = 16 << 30
    max_expansion_ratio: float = 100.0
    ratio_grace_bytes: int = 64 << 20
    max_line_bytes: int = 8 << 20
    raw_excerpt_bytes: int = 64 << 10
    max_columns: int = 10_000
    max_json_depth: int = 64
    max_archive_members: int = 10_000

    @classmethod
    def from_dict(cls, raw: Any, *, source: str) -> ReadLimits:
        """Validate a ``limits:`` mapping; errors name the source and the field."""
        if raw is None:
            return cls()
        if isinstance(raw, ReadLimits):
            return raw
        if not isinstance(raw, dict):
            raise SourceConfigError(f"source {source!r}: field 'limits' must be a mapping, got {raw!r}")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise SourceConfigError(
                    f"source {source!r}: field 'limits.{key}' is unknown (known: {', '.join(known)})"
                )
            kind = float if key == "max_expansion_ratio" else int
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SourceConfigError(
                    f"source {source!r}: field 'limits.{key}' must be a positive number, got {value!r}"
                )
            values[key] = kind(value)
        return cls(**values)


def excerpt(value: str | bytes, limit: int = 80) -> str:
    """A short, printable excerpt of ``value`` for an error message (never the whole of it).

    >>> excerpt("a" * 1000, 10)
    "'aaaaaaaaaa' … (1000 characters)"
    """
    if isinstance(value, bytes):
        text, unit = repr(value[:limit]), "bytes"
    else:
        text, unit = repr(value[:limit]), "characters"
    return text if len(value) <= limit else f"{text} … ({len(value)} {unit})"


class BinaryStream(Protocol):
    """What readers read decoded bytes from: ``read(n)`` returns up to ``n`` bytes, ``b""`` at the end."""

    def read(self, n: int, /) -> bytes: ...


class CappedStream:
    """A decoded stream that counts what it hands out and enforces :class:`ReadLimits`."""

    def __init__(
        self, inner: BinaryStream, *, label: str, limits: ReadLimits, stored: Callable[[], int], codec: str
    ) -> None:
        self._inner, self._label, self._limits = inner, label, limits
        self._stored, self._codec = stored, codec
        self.decoded = 0

    def read(self, n: int = READ_BYTES) -> bytes:
        if n is None or n < 0:
            n = READ_BYTES  # never an unbounded read
        try:
            data = self._inner.read(n)
        except _DECODE_ERRORS as err:
            raise SourceUnreadableError(
                f"{self._label}: not readable as {self._codec} data after {self.decoded:,} decoded "
                f"bytes: {type(err).__name__}: {excerpt(str(err), 200)}"
            ) from err
        self.decoded += len(data)
        self._check()
        return data

    def _check(self) -> None:
        lim = self._limits
        if self.decoded > lim.max_decoded_bytes:
            raise DecodeLimitError(
                f"{self._label}: decoding stopped at {self.decoded:,} bytes: the {self._codec} data "
                f"inflates past the cap of {lim.max_decoded_bytes:,} bytes (limits.max_decoded_bytes); "
                "a decompression bomb, or raise the cap for this source"
            )
        if self.decoded > lim.ratio_grace_bytes:
            stored = max(self._stored(), 1)
            if self.decoded > lim.max_expansion_ratio * stored:
                raise DecodeLimitError(
                    f"{self._label}: decoding stopped: {stored:,} stored bytes inflated to "
                    f"{self.decoded:,} (more than {lim.max_expansion_ratio:g} times, "
                    "limits.max_expansion_ratio); a decompression bomb, or raise the cap for this source"
                )


def sniff(head: bytes) -> str:
    """The container of bytes starting with ``head``: ``gzip``, ``zip``, another name, or ``plain``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    for magic, name in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    return "plain"


@contextlib.contextmanager
def open_decoded(
    path: str | os.PathLike[str], *, label: str, limits: ReadLimits, member: str | None = None
) -> Iterator[BinaryStream]:
    """The decoded bytes of the file at ``path`` (or of its zip ``member``), capped by ``limits``.

    Args:
        path: the local file (a claimed drop file, a CSV path, an S3 spool file).
        label: how errors name the input (its URI).
        limits: the caps.
        member: a zip member name: read that member of the archive at ``path``.
    """
    if member is not None:
        from connectors.archive import open_member

        with open_member(path, member, label=label, limits=limits) as stream:
            yield stream
        return
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, after the stream that wraps it
    except OSError as err:
        raise SourceUnreadableError(f"{label}: cannot be opened: {err.strerror or err}") from err
    with raw:
        kind = sniff(raw.read(8))
        raw.seek(0)
        if kind == "plain":
            yield CappedStream(raw, label=label, limits=limits, stored=raw.tell, codec="plain")
        elif kind == "gzip":
            # Python's gzip reads every member of a multi-member file, and fails on trailing garbage.
            with gzip.GzipFile(fileobj=raw, mode="rb") as inflated:
                yield CappedStream(inflated, label=label, limits=limits, stored=raw.tell, codec="gzip")
        elif kind == "zip":
            raise SourceUnreadableError(
                f"{label}: is a zip archive, not a single file: name it *.zip so that each member is "
                "read as its own input"
            )
        else:
            raise SourceUnreadableError(
                f"{label}: is {kind}-compressed, which is not supported: recompress it with gzip"
            )


def content_digest(
    path: str | os.PathLike[str], *, label: str, limits: ReadLimits, member: str | None = None
) -> str | None:
    """sha256 of the decoded bytes of an encoded input (gzip, zip member); ``None`` for plain bytes
    or when the input cannot be decoded (its read then fails with the real error)."""
    if member is None:
        with open(path, "rb") as f:
            if sniff(f.read(8)) == "plain":
                return None
    digest = hashlib.sha256()
    try:
        with open_decoded(path, label=label, limits=limits, member=member) as stream:
            while block := stream.read(READ_BYTES):
                digest.update(block)
    except SourceUnreadableError:
        return None
    return digest.hexdigest()


def spool_decoded(
    path: str | os.PathLike[str], target: str | os.PathLike[str], *, label: str, limits: ReadLimits
) -> Path:
    """Decode ``path`` into the file ``target`` (for formats that need random access), within the caps.

    A failure removes the partial file.
    """
    out_path = Path(target)
    try:
        with open_decoded(path, label=label, limits=limits) as stream, open(out_path, "wb") as out:
            while block := stream.read(READ_BYTES):
                out.write(block)
        faults.point("decode.after_spool")  # the decoded temporary file exists, nothing read from it
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return out_path
