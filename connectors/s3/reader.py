"""Parse a spooled object (a complete local copy) into Arrow record batches of bounded size.

Contract:

- :func:`read_spool` yields ``pyarrow.RecordBatch`` objects of at most ``batch_rows`` rows (fewer
  for very wide rows: :func:`connectors.badrows.batch_cap`). Memory is bounded by one parse chunk
  plus one batch.
- CSV: :mod:`connectors.csv.parse`, every column as text (null tokens named in the schema
  metadata). NDJSON: every value as text, nested values as JSON text (:mod:`connectors.s3.ndjson`).
  In both, a row that cannot be read as a row is yielded in place with a reason
  (:mod:`connectors.badrows`). Parquet: native types, streamed by ``iter_batches``.
- gzip is recognised by its magic bytes (which also covers objects stored with
  ``Content-Encoding: gzip``) and decoded while streaming, with the caps of the source's
  ``limits`` (:class:`connectors.decode.ReadLimits`); Parquet in gzip is decoded to a temporary
  file beside the spool file, bounded by the same caps.
- An object that cannot be read at all (no header, binary, corrupt or over-cap compression, not
  Parquet) raises :class:`~connectors.exceptions.SourceUnreadableError` naming ``s3://bucket/key``
  and the problem. pyarrow is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from connectors.base import DEFAULT_BATCH_ROWS
from connectors.decode import ReadLimits, excerpt, open_decoded, sniff, spool_decoded
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


def read_spool(
    path: str | os.PathLike[str],
    *,
    uri: str,
    source: str,
    format: Format = "auto",
    csv: CsvOptions | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    limits: ReadLimits | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the spooled copy of ``uri`` as record batches of at most ``batch_rows`` rows."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    limits = limits or ReadLimits()
    key = uri.split("/", 3)[-1]
    label = f"S3 source {source!r}: {uri}"
    try:
        fmt = detect_format(key, format)
    except ValueError as err:
        raise SourceUnreadableError(f"S3 source {source!r}: cannot read {uri}: {err}") from err
    try:
        if fmt == "csv":
            from connectors.csv.parse import read_csv_stream

            options = csv or CsvOptions()
            with open_decoded(path, label=label, limits=limits) as stream:
                yield from read_csv_stream(
                    stream, label=label, dialect=options.dialect(), limits=limits,
                    batch_rows=batch_rows, empty_ok=True,
                )
        elif fmt == "ndjson":
            from connectors.s3.ndjson import read_ndjson

            yield from read_ndjson(
                lambda: open_decoded(path, label=label, limits=limits), limits=limits, batch_rows=batch_rows
            )
        else:
            yield from _read_parquet(path, label=label, limits=limits, batch_rows=batch_rows)
    except SourceUnreadableError:
        raise
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as err:
        # pyarrow.ArrowInvalid is a ValueError, ArrowIOError an OSError: these bytes are not a
        # readable <fmt> object.
        raise SourceUnreadableError(
            f"S3 source {source!r}: cannot read {uri} as {fmt}: {type(err).__name__}: "
            f"{excerpt(str(err).splitlines()[0] if str(err) else '', 300)}. "
            "The object is quarantined; fix or re-upload it, or correct the format options."
        ) from err


def _read_parquet(
    path: str | os.PathLike[str], *, label: str, limits: ReadLimits, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    from connectors.badrows import batch_cap, check_names

    target = Path(path)
    with open(path, "rb") as f:
        compressed = sniff(f.read(8)) != "plain"
    if compressed:
        # Parquet needs random access (the footer is at the end): decode to a second spool file,
        # bounded by limits.max_decoded_bytes and limits.max_expansion_ratio.
        target = spool_decoded(path, target.with_name(target.name + ".parquet"), label=label, limits=limits)
    try:
        with pq.ParquetFile(target) as pf:
            check_names(pf.schema_arrow.names, label=label, limits=limits, what="Parquet schema")
            cap = batch_cap(batch_rows, columns=len(pf.schema_arrow.names), row_bytes=1)
            yield from pf.iter_batches(batch_size=cap)
    finally:
        if compressed:
            target.unlink(missing_ok=True)
