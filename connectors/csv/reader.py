"""CSV source: local files (plain, gzip, or the members of a zip archive) as all-text record batches.

Columns are read as text so that contract enforcement sees exactly what the file holds and the
quarantine can keep rejected values verbatim. Rows that cannot be read as rows (ragged, invalid
bytes, NULs, over-long) are yielded in place with a reason (:mod:`connectors.badrows`); only an
input that cannot be read at all (no header, not text, undecodable or over-cap compression) raises
:class:`SourceUnreadableError` naming the file and the problem — possibly after earlier batches
were yielded, which is why the lake commits an input only when its last batch has been read.

Null tokens (``options.null_values``) are named in each batch's schema metadata
(``maestro.null_values``).

Memory: the file is decoded and parsed in chunks of 4 MiB of whole records (a record is capped at
``limits.max_line_bytes``, 8 MiB), and the parsed chunks are joined into batches of exactly
``batch_rows`` rows (the last one smaller). Nothing is inflated to disk.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa

from connectors.archive import is_archive, list_members, member_uri, split_member
from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject, sha256_file
from connectors.csv.config import CsvOptions, CsvSourceConfig
from connectors.csv.parse import read_csv_stream
from connectors.decode import ReadLimits, content_digest, open_decoded


def read_csv_batches(
    path: str,
    options: CsvOptions,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    default_names: list[str] | None = None,
    limits: ReadLimits | None = None,
    member: str | None = None,
    label: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of at most ``batch_rows`` rows with all-text columns.

    Args:
        path: the local file (plain or gzip; a zip archive with ``member``).
        options: how to parse it.
        batch_rows: rows per batch.
        default_names: names of a header-less file's columns when ``options.column_names`` is unset.
        limits: caps on decoding and row size (defaults: :class:`ReadLimits`).
        member: the zip member to read, for an archive.
        label: how errors name the input (default: the path, and member).
    """
    label = label or (f"{path}#member={member}" if member else path)
    with open_decoded(path, label=label, limits=limits or ReadLimits(), member=member) as stream:
        yield from read_csv_stream(
            stream, label=label, dialect=options.dialect(), limits=limits or ReadLimits(),
            batch_rows=batch_rows, default_names=default_names,
        )


def describe_file(path: str, *, limits: ReadLimits | None = None, uri: str | None = None) -> SourceObject:
    """SourceObject of a local file: absolute file URI (or ``uri``), sha256, size, mtime, and for a
    compressed file the sha256 of its decoded content (so the same data plain and gzipped is one
    input)."""
    digest, size = sha256_file(path)
    mtime = datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC)
    uri = uri or Path(path).resolve().as_uri()
    content = content_digest(path, label=uri, limits=limits or ReadLimits())
    return SourceObject(uri=uri, sha256=digest, size=size, mtime=mtime, content_sha256=content)


def describe_inputs(
    path: str, *, limits: ReadLimits | None = None, uri: str | None = None, name: str | None = None
) -> list[SourceObject]:
    """The inputs a local file holds: itself, or for a zip archive one per file member.

    ``uri`` names the file (default: its absolute ``file://`` URI) and ``name`` tells an archive
    (default: ``path``), for a file read through another path (a verified descriptor).

    A member's ``uri`` is the archive's plus ``#member=<name>``; its ``sha256`` is the archive's
    (the stored bytes the URI points to), ``size`` its stored size and ``content_sha256`` the hash
    of its decoded bytes (for a member that cannot be decoded, a hash of the archive's hash and the
    member name, so every member keeps its own identity). Raises ``SourceUnreadableError`` for an
    archive that cannot be listed (see :func:`connectors.archive.list_members`).
    """
    if not is_archive(name or path):
        return [describe_file(path, limits=limits, uri=uri)]
    import hashlib

    limits = limits or ReadLimits()
    archive = describe_file(path, limits=limits, uri=uri)
    out = []
    for m in list_members(path, label=archive.uri, limits=limits):
        uri = member_uri(archive.uri, m.name)
        content = content_digest(path, label=uri, limits=limits, member=m.name)
        if content is None:
            content = hashlib.sha256(f"{archive.sha256}\0{m.name}".encode()).hexdigest()
        out.append(replace(archive, uri=uri, size=m.compress_size, content_sha256=content))
    return out


class CsvSource(Source):
    """Files matching the configured paths/globs; each file is one input (each zip member, one)."""

    kind = "csv"

    def __init__(self, config: CsvSourceConfig, *, base_dir: str | Path = ".") -> None:
        super().__init__(name=config.name, dataset=config.dataset)
        self.config = config
        self.base_dir = Path(base_dir)

    def paths(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.paths:
            full = pattern if os.path.isabs(pattern) else str(self.base_dir / pattern)
            # Plain files only: a link matching the pattern is not followed (it could point anywhere).
            found.update(p for p in glob.glob(full, recursive=True) if _is_plain_file(p))
        return sorted(found, key=lambda p: (os.stat(p).st_mtime, p))

    def discover(self) -> list[SourceObject]:
        from connectors.exceptions import SourceUnreadableError

        out: list[SourceObject] = []
        for p in self.paths():
            try:
                out += describe_inputs(p, limits=self.config.limits)
            except SourceUnreadableError:
                out.append(describe_file(p, limits=self.config.limits))  # its read says why
        return out

    def read(self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        return read_uri(obj.uri, self.config.options, limits=self.config.limits, batch_rows=batch_rows)


def read_uri(
    uri: str, options: CsvOptions, *, limits: ReadLimits, batch_rows: int, label: str | None = None
) -> Iterator[pa.RecordBatch]:
    """Read the input a ``file://`` URI names (``#member=`` for a member of a zip archive).

    ``label`` names the input in errors (default: ``uri``).
    """
    base, member = split_member(uri)
    return read_input(
        _path_of(base), member, options, limits=limits, batch_rows=batch_rows, label=label or uri
    )


def read_input(
    path: str, member: str | None, options: CsvOptions, *, limits: ReadLimits, batch_rows: int, label: str
) -> Iterator[pa.RecordBatch]:
    """Read the local file ``path`` (or its zip ``member``) as CSV; errors name it ``label``."""
    if member is None and is_archive(path):
        from connectors.exceptions import SourceUnreadableError

        def refuse() -> Iterator[pa.RecordBatch]:
            list_members(path, label=label, limits=limits)  # raises the archive's real problem, if any
            raise SourceUnreadableError(f"{label}: is a zip archive: each member is read as its own input")
            yield  # pragma: no cover - a generator, so the error comes at the first batch

        return refuse()
    return read_csv_batches(path, options, batch_rows=batch_rows, limits=limits, member=member, label=label)


def _is_plain_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri
