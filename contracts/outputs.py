"""The output record batches of enforcement: valid rows for bronze, rejected rows for quarantine.

An :class:`OutputBuilder` is created per input by :class:`contracts.enforce.Enforcer`. Contract:

- :meth:`OutputBuilder.valid` returns the kept rows with the contract columns in contract types and
  order (text kept as text is taken from the source batch, not through polars), then the bronze
  metadata of :mod:`contracts.schemas`; ``_source_row`` is the row's 1-based number in the input;
- :meth:`OutputBuilder.rejected` returns the rejected rows with every contract column as its
  original text (a null token as its text; a typed source as polars writes it, see
  :mod:`contracts.typed_sources` for dates out of range; an absent column as null), the reason code
  of every rule the row fails in ``_reasons`` (a row the reader could not read: the reader's code
  alone), a readable ``_errors`` quoting the offending values (at most 60 characters of each) and
  the rule's bound, list or pattern (``month: '13' is above max 12``; ``duplicate_key`` and
  ``unique`` name the earlier row that holds the value), then the quarantine metadata, with the
  reader's raw bytes in ``_raw`` and its line in ``_source_line``; it also adds one to
  ``reason_counts`` per reason given.

Arrow arrays are built here from buffers, through polars, or by slicing and concatenating:
``pa.array()``, ``Array.cast/filter/take`` and ``Array.__array__`` import pyarrow.compute and pandas
on first use, half a second of every ingest process's first input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.messages import Explainer
from contracts.model import Contract
from contracts.parse import Plan, typed_name
from contracts.reader_rows import explain as explain_reader_error
from contracts.schemas import ARROW_TYPES, bronze_schema, quarantine_schema
from contracts.typed_sources import temporal_text

if TYPE_CHECKING:
    from contracts.enforce import InputContext
    from contracts.reader_rows import ReaderRows

_OLDEST = pl.CompatLevel.oldest()


class OutputBuilder:
    """Builds the bronze and quarantine record batches of one input.

    Args:
        contract: the dataset's contract.
        context: the input's manifest id, URI and hash, stamped on every output row.
    """

    def __init__(self, contract: Contract, context: InputContext) -> None:
        self.contract = contract
        self.context = context
        self._bronze_schema = bronze_schema(contract)
        self._quarantine_schema = quarantine_schema(contract)
        self._constants: dict[str, pa.Array] = {}
        self._explainer = Explainer(contract)
        self._reader_codes: set[str] = set()  # codes of this input's reader not in reader_rows.MESSAGES

    def _constant(self, name: str, value: object, type_: pa.DataType, n: int) -> pa.Array:
        """``value`` repeated ``n`` times, sliced from one cached array (no per-batch copies)."""
        cached = self._constants.get(name)
        if cached is None or len(cached) < n:
            cached = _repeat(value, type_, max(n, 1024))
            self._constants[name] = cached
        return cached.slice(0, n)

    def valid(
        self, batch: pa.RecordBatch, typed: pl.DataFrame, plan: Plan, good: np.ndarray, offset: int
    ) -> pa.RecordBatch:
        """The rows of ``batch`` where ``good``, as a bronze batch (``offset``: rows before it)."""
        ctx = self.context
        arrays = []
        for c in self.contract.columns:
            if c in plan.text and not plan.null_values:  # the source text itself: no copy through polars
                arr = _large_text(batch.column(c.source))
            else:
                arr = typed.get_column(typed_name(c)).to_arrow(compat_level=pl.CompatLevel.oldest())
                if arr.type != ARROW_TYPES[c.type]:
                    arr = arr.cast(ARROW_TYPES[c.type])
            arrays.append(arr)
        names = [c.name for c in self.contract.columns]
        columns = _keep_rows(pa.RecordBatch.from_arrays(arrays, names=names), good)
        m = columns.num_rows
        rows = np.flatnonzero(good) + (offset + 1)
        arrays = columns.columns + [
            self._constant("_manifest_id", ctx.manifest_id, pa.large_string(), m),
            self._constant("_source_uri", ctx.source_uri, pa.large_string(), m),
            _int64s(rows),
            self._constant("_ingested_at", ctx.ingested_at, pa.timestamp("us", tz="UTC"), m),
            self._constant("_contract_version", self.contract.version, pa.large_string(), m),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self._bronze_schema)

    def rejected(
        self,
        batch: pa.RecordBatch,
        plan: Plan,
        flags: pl.DataFrame,
        bad: np.ndarray,
        extra_reason: dict[int, tuple[str, int]],
        reason_counts: dict[str, int],
        offset: int,
        reader: ReaderRows | None = None,
    ) -> pa.RecordBatch:
        """The rows of ``batch`` where ``bad``, as a quarantine batch.

        ``flags`` holds each rule's failures (columns named by reason code, as in ``plan.rules``);
        ``extra_reason`` adds a reason found later (key or unique checks) by row index, with the
        number of the earlier row that holds the key or value; ``reader`` marks the rows the reader
        could not read (their code is their only reason).
        """
        ctx = self.context
        bad_idx = np.flatnonzero(bad)
        codes = [code for code, _ in plan.rules]
        fails = flags.select(codes)[bad_idx].rows() if codes else [()] * bad_idx.size
        unread: dict[int, str] = {}
        if reader is not None:
            marked = bad_idx[reader.failed[bad_idx]]
            unread = dict(zip(marked.tolist(), reader.codes(marked, self._reader_codes), strict=True))
        reason_lists: list[list[str]] = []
        for i, row in zip(bad_idx.tolist(), fails, strict=True):
            if i in unread:
                reasons = [unread[i]]
            else:
                reasons = [code for code, failed in zip(codes, row, strict=True) if failed]
                if i in extra_reason:
                    reasons.append(extra_reason[i][0])
            reason_lists.append(reasons)
            for code in reasons:
                reason_counts[code] = reason_counts.get(code, 0) + 1
        sources = list(dict.fromkeys(c.source for c in self.contract.columns if c not in plan.absent))
        picked = _keep_rows(batch.select(sources), bad)
        originals: dict[str, pa.Array] = {}
        for c in self.contract.columns:
            if c in plan.absent:
                originals[c.name] = pa.nulls(bad_idx.size, pa.large_string())
            elif c in plan.cast and plan.kinds[c.source] == "temporal":
                originals[c.name] = temporal_text(picked.column(c.source))
            elif c in plan.cast:  # typed source: its text as polars writes it
                s = pl.from_arrow(picked.column(c.source))
                assert isinstance(s, pl.Series)
                originals[c.name] = s.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
            else:
                originals[c.name] = _large_text(picked.column(c.source))
        values = _Values(originals)
        errors = []
        for j, (i, reasons) in enumerate(zip(bad_idx.tolist(), reason_lists, strict=True)):
            if i in unread:
                errors.append(explain_reader_error(unread[i]))
                continue
            earlier = extra_reason[i][1] if i in extra_reason else None
            errors.append("; ".join(self._explainer.explain(code, values, j, earlier) for code in reasons))
        m = bad_idx.size
        raw = reader.raw_bytes(bad_idx) if reader is not None else pa.nulls(m, pa.large_binary())
        lines = reader.lines(bad_idx) if reader is not None else None
        arrays = [originals[c.name] for c in self.contract.columns] + [
            pl.Series(reason_lists, dtype=pl.List(pl.String)).to_arrow(compat_level=_OLDEST),
            pl.Series(errors, dtype=pl.String).to_arrow(compat_level=_OLDEST),
            self._constant("_manifest_id", ctx.manifest_id, pa.large_string(), m),
            self._constant("_source_uri", ctx.source_uri, pa.large_string(), m),
            self._constant("_source_sha256", ctx.source_sha256, pa.large_string(), m),
            _int64s(bad_idx + (offset + 1)),
            self._constant("_quarantined_at", ctx.ingested_at, pa.timestamp("us", tz="UTC"), m),
            self._constant("_contract_version", self.contract.version, pa.large_string(), m),
            raw,
            lines if lines is not None else pa.nulls(m, pa.int64()),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self._quarantine_schema)


class _Values(dict[str, list[object]]):
    """A column's original values as Python objects, converted when a message first needs them."""

    def __init__(self, originals: dict[str, pa.Array]) -> None:
        super().__init__()
        self._originals = originals

    def __missing__(self, name: str) -> list[object]:
        values = self[name] = self._originals[name].to_pylist()  # strings: no pandas
        return values


def _keep_rows(batch: pa.RecordBatch, keep: np.ndarray) -> pa.RecordBatch:
    """The rows of ``batch`` where ``keep``; one copy, by runs when the dropped rows are few."""
    if keep.all():
        return batch
    edges = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).view(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.size == 0:
        return batch.slice(0, 0)
    if starts.size > max(1, keep.size // 64):  # many short runs: a row-by-row filter is cheaper
        df = pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        kept = df.filter(pl.Series(keep)).rechunk().to_arrow(compat_level=_OLDEST)
        arrays = [kept.column(i).combine_chunks() for i in range(kept.num_columns)]
        return pa.RecordBatch.from_arrays(arrays, schema=kept.schema)
    # Joining whole runs copies memory blocks: ~3x faster than a filter deciding row by row.
    return pa.concat_batches([batch.slice(a, b - a) for a, b in zip(starts, ends, strict=True)])


def _int64s(values: np.ndarray) -> pa.Array:
    """An int64 Arrow array over (a contiguous int64 copy of) ``values``, without copying again."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), data.size, [None, pa.py_buffer(data)])


def _large_text(arr: pa.Array) -> pa.Array:
    """``arr`` as ``large_string``; from ``string`` only the offsets are widened (data shared)."""
    if pa.types.is_large_string(arr.type):
        return arr
    if not pa.types.is_string(arr.type):
        return arr.cast(pa.large_string())
    validity, offsets, data = arr.buffers()
    wide = np.frombuffer(offsets, dtype=np.int32, count=arr.offset + len(arr) + 1).astype(np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), len(arr), [validity, pa.py_buffer(wide), data], offset=arr.offset
    )


def _repeat(value: object, type_: pa.DataType, n: int) -> pa.Array:
    """``value`` (a string or a datetime, naive taken as UTC) ``n`` times, built from buffers."""
    if value is None:
        return pa.nulls(n, type_)
    if pa.types.is_timestamp(type_):
        assert isinstance(value, datetime)
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        micros = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(np.full(n, micros, np.int64))])
    data = str(value).encode()
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])
