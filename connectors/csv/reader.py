"""Streaming CSV reading with pyarrow: bounded batches, every column kept as original text.

Columns are read as strings so that contract enforcement sees exactly what the file holds and the
quarantine can keep rejected values verbatim. Null tokens (``options.null_values``) become nulls.
A file that cannot be decoded or parsed raises :class:`SourceUnreadableError` naming the file and
the problem — possibly after earlier batches were yielded, which is why the lake commits an input
only when its last batch has been read.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject, sha256_file
from connectors.csv.config import CsvOptions, CsvSourceConfig
from connectors.exceptions import SourceUnreadableError

_BYTES_PER_ROW_GUESS = 160


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
        block_size=max(1 << 20, batch_rows * _BYTES_PER_ROW_GUESS),
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
        for batch in reader:
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise SourceUnreadableError(f"{path}: not readable as CSV ({options.encoding}): {err}") from err
    except OSError as err:
        raise SourceUnreadableError(f"{path}: cannot be read: {err}") from err


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
            found.update(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
        return sorted(found, key=lambda p: (os.stat(p).st_mtime, p))

    def discover(self) -> list[SourceObject]:
        return [describe_file(p) for p in self.paths()]

    def read(self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        return read_csv_batches(_path_of(obj.uri), self.config.options, batch_rows=batch_rows)


def _path_of(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri
