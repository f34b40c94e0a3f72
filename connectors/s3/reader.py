"""Parse a spooled object (a complete local copy) into Arrow record batches of bounded size.

Contract:

- :func:`read_spool` yields ``pyarrow.RecordBatch`` objects of at most ``batch_rows`` rows, every
  batch of one object with the same schema. Memory is bounded by one parse block plus one batch.
- CSV: the pyarrow streaming reader, every column forced to ``string`` (the original text; only
  the configured null tokens become null). NDJSON: every value as text, nested values as JSON text
  (see :mod:`connectors.s3.ndjson`). Parquet: native types, streamed by ``iter_batches``.
- gzip is recognised by a ``.gz`` suffix or by the gzip magic bytes (which also covers objects
  stored with ``Content-Encoding: gzip``) and decompressed while streaming.
- Anything that cannot be parsed raises :class:`~connectors.exceptions.SourceUnreadableError`
  naming ``s3://bucket/key`` and the problem. pyarrow is imported lazily.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from connectors.base import DEFAULT_BATCH_ROWS
from connectors.s3.config import CsvOptions, Format
from connectors.s3.exceptions import SourceUnreadableError

if TYPE_CHECKING:
    import pyarrow as pa

Concrete = Literal["csv", "ndjson", "parquet"]

_EXTENSIONS: dict[str, Concrete] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GZIP_MAGIC = b"\x1f\x8b"
_CSV_BLOCK_BYTES = 1 << 20


def detect_format(key: str, configured: Format) -> Concrete:
    """The format to parse ``key`` as: the configured one, or by extension (``.gz`` ignored)."""
    if configured != "auto":
        return configured
    name = key.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in _EXTENSIONS:
        raise ValueError(
            f"cannot tell the format from the extension {ext or '(none)'!r}; expected one of "
            f"{sorted(_EXTENSIONS)} (optionally .gz) or set field 'format'"
        )
    return _EXTENSIONS[ext]


def is_gzip(path: str | os.PathLike[str], key: str) -> bool:
    """gzip by suffix, or by magic bytes (objects uploaded with ``Content-Encoding: gzip``)."""
    if key.lower().endswith(".gz"):
        return True
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_spool(
    path: str | os.PathLike[str],
    *,
    uri: str,
    source: str,
    format: Format = "auto",
    csv: CsvOptions | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream the spooled copy of ``uri`` as record batches of at most ``batch_rows`` rows."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    key = uri.split("/", 3)[-1]
    try:
        fmt = detect_format(key, format)
    except ValueError as err:
        raise SourceUnreadableError(f"S3 source {source!r}: cannot read {uri}: {err}") from err
    gz = is_gzip(path, key)
    try:
        if fmt == "csv":
            yield from _read_csv(path, gz=gz, options=csv or CsvOptions(), batch_rows=batch_rows)
        elif fmt == "ndjson":
            from connectors.s3.ndjson import read_ndjson

            yield from read_ndjson(path, gz=gz, batch_rows=batch_rows)
        else:
            yield from _read_parquet(path, gz=gz, batch_rows=batch_rows)
    except SourceUnreadableError:
        raise
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as err:
        # pyarrow.ArrowInvalid is a ValueError, ArrowIOError an OSError, zlib/gzip errors OSError
        # or EOFError: all mean these bytes are not a readable <fmt> object.
        problem = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
        compressed = "gzip-compressed " if gz else ""
        raise SourceUnreadableError(
            f"S3 source {source!r}: cannot read {uri} as {compressed}{fmt}: {problem}. "
            "The object is quarantined; fix or re-upload it, or correct the format options."
        ) from err


def _open_stream(path: str | os.PathLike[str], *, gz: bool) -> pa.NativeFile:
    import pyarrow as pa

    return pa.input_stream(str(path), compression="gzip" if gz else None)


def _read_csv(
    path: str | os.PathLike[str], *, gz: bool, options: CsvOptions, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not _has_text(path, gz=gz, encoding=options.encoding):
        return
    parse = pcsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote if options.quote is not None else False,
        escape_char=options.escape if options.escape is not None else False,
        newlines_in_values=options.newlines_in_values,
    )

    def read_options(names: list[str] | None) -> pcsv.ReadOptions:
        if names is not None:
            return pcsv.ReadOptions(
                column_names=names,
                skip_rows=1 if options.header else 0,
                encoding=options.encoding,
                block_size=_CSV_BLOCK_BYTES,
            )
        return pcsv.ReadOptions(
            autogenerate_column_names=not options.header,
            encoding=options.encoding,
            block_size=_CSV_BLOCK_BYTES,
        )

    configured = list(options.column_names) if options.column_names else None
    names = configured
    if names is None:
        # The names are needed up front to force every column to string; a first open parses
        # only the first block to learn them.
        with _open_stream(path, gz=gz) as stream:
            names = pcsv.open_csv(
                stream, read_options=read_options(None), parse_options=parse
            ).schema.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate column names in the header: {dupes}; set csv.column_names")
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=list(options.null_values),
        strings_can_be_null=bool(options.null_values),
        quoted_strings_can_be_null=False,
    )
    with _open_stream(path, gz=gz) as stream:
        reader = pcsv.open_csv(
            stream,
            read_options=read_options(configured),
            parse_options=parse,
            convert_options=convert,
        )
        for batch in reader:
            yield from _slices(batch, batch_rows)


def _has_text(path: str | os.PathLike[str], *, gz: bool, encoding: str) -> bool:
    """False for an empty object; raises for bytes that are plainly binary, not text."""
    with _open_stream(path, gz=gz) as stream:
        head = stream.read(64 << 10)
    if not head:
        return False
    # A NUL byte never occurs in UTF-8/Latin text; UTF-16/32 are the exception and say so.
    codec = encoding.lower().replace("-", "").replace("_", "")
    if b"\x00" in head and not codec.startswith(("utf16", "utf32")):
        raise ValueError("binary content (NUL bytes) where text was expected")
    return True


def _read_parquet(
    path: str | os.PathLike[str], *, gz: bool, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    target = Path(path)
    if gz:
        # Parquet needs random access (the footer is at the end): decompress to a second spool file.
        target = target.with_name(target.name + ".parquet")
        with _open_stream(path, gz=True) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    try:
        with pq.ParquetFile(target) as pf:
            yield from pf.iter_batches(batch_size=batch_rows)
    finally:
        if gz:
            target.unlink(missing_ok=True)


def _slices(batch: pa.RecordBatch, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for offset in range(0, batch.num_rows, batch_rows):
        yield batch.slice(offset, batch_rows)
