"""Streaming CSV reading with pyarrow: bounded batches, every column kept as original text.

Columns are read as strings so that contract enforcement sees exactly what the file holds and the
quarantine can keep rejected values verbatim. Null tokens (``options.null_values``) become nulls.
A file that cannot be decoded or parsed raises :class:`SourceUnreadableError` naming the file and
the problem — possibly after earlier batches were yielded, which is why the lake commits an input
only when its last batch has been read.

Memory: pyarrow's streaming reader reads up to 32 blocks ahead of its consumer, so the file is read
in small blocks (1 MiB: at most ~32 MiB of text ahead) and the parsed blocks are joined into
batches of exactly ``batch_rows`` rows (the last one smaller).
"""

from __future__ import annotations

import csv
import glob
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject, sha256_file
from connectors.csv.config import CsvOptions, CsvSourceConfig
from connectors.exceptions import SourceUnreadableError

# pyarrow reads up to 32 blocks ahead (a fixed background queue), so the block size bounds memory.
_BLOCK_BYTES = 1 << 20


def _header(path: str, options: CsvOptions) -> list[str]:
    try:
        with open(path, encoding=options.encoding, newline="") as f:
            for _ in range(options.skip_rows):
                f.readline()
            line = f.readline()
    except UnicodeDecodeError as err:
        raise SourceUnreadableError(f"{path}: header is not valid {options.encoding}: {err}") from err
    if not line.strip():
        raise SourceUnreadableError(f"{path}: file is empty or has no header row")
    row = next(csv.reader(io.StringIO(line), delimiter=options.delimiter,
                          quotechar=options.quote_char or '"',
                          quoting=csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE))
    names = [c.strip().lstrip("\ufeff") for c in row]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise SourceUnreadableError(f"{path}: header has empty or repeated column names: {names}")
    return names


def read_csv_batches(
    path: str,
    options: CsvOptions,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    default_names: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of at most ``batch_rows`` rows with all-string columns."""
    from pyarrow import csv as pacsv

    if options.header:
        names = _header(path, options)
    else:
        names = options.column_names or default_names or []
        if not names:
            raise SourceUnreadableError(f"{path}: header: false needs column_names")
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=options.skip_rows + (1 if options.header else 0),
        encoding=options.encoding,
        block_size=_BLOCK_BYTES,
    )
    parse = pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char or False,
        escape_char=options.escape_char or False,
        newlines_in_values=options.newlines_in_values,
    )
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=options.null_values,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        yield from _rebatched(reader, batch_rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise SourceUnreadableError(f"{path}: not readable as CSV ({options.encoding}): {err}") from err
    except OSError as err:
        raise SourceUnreadableError(f"{path}: cannot be read: {err}") from err


def _rebatched(blocks: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly ``batch_rows`` rows (the last one smaller) from parsed blocks.

    A batch within one block is a zero-copy slice; one spanning blocks is copied once, together.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    for block in blocks:
        offset = 0
        while offset < block.num_rows:
            take = min(batch_rows - rows, block.num_rows - offset)
            pending.append(block.slice(offset, take))
            rows += take
            offset += take
            if rows == batch_rows:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, rows = [], 0
    if rows:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def describe_file(path: str) -> SourceObject:
    """SourceObject of a local file: absolute file URI, sha256, size and mtime."""
    digest, size = sha256_file(path)
    mtime = datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC)
    return SourceObject(uri=Path(path).resolve().as_uri(), sha256=digest, size=size, mtime=mtime)


class CsvSource(Source):
    """Files matching the configured paths/globs; each file is one input."""

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
        return [describe_file(p) for p in self.paths()]

    def read(self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        return read_csv_batches(_path_of(obj.uri), self.config.options, batch_rows=batch_rows)


def _is_plain_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _path_of(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri
