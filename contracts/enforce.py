"""Vectorised contract enforcement, one record batch at a time.

An :class:`Enforcer` is created per input (one manifest) and fed the input's record batches in
order. For each batch it returns the rows that keep the contract (typed, in contract column order)
and the rows that break it (original values as text, with a reason code per failed rule).

Every input row ends in exactly one place, so ``read == valid + rejected + duplicates``:

- **valid** rows go to the bronze table;
- **rejected** rows go to the quarantine table. Reason codes: ``type:<col>`` (value present but not
  parsable as the column type, or a date or timestamp outside years 0001-9999), ``not_null:<col>``,
  ``min:<col>``, ``max:<col>``, ``allowed_values:<col>``, ``pattern:<col>``, ``min_length:<col>``,
  ``max_length:<col>``, ``unique:<col>`` (value already used by an earlier kept row of this input),
  ``duplicate_key`` (primary key already used by an earlier row of this input with *different*
  values); and the reader's own code for a row the reader could not read (``ragged_row``,
  ``encoding`` ...: :mod:`contracts.reader_rows`), which is that row's only reason;
- **duplicates** are rows identical, in every contract column, to an earlier row of this input with
  the same primary key. They carry no information, so they are counted and dropped.

The duplicate rule: within one input the first occurrence of a primary key wins. Only rows that
pass every column rule (and that the reader could read) take part in the key and unique checks, so
a row rejected by a column rule never claims a key or a unique value, and the outcome does not
depend on where batch boundaries fall. The primary key is checked before unique constraints: a row
with a new key but a used unique value is rejected (``unique:<col>``) yet keeps its key. Across
inputs the bronze table keeps every version (with its source pointer) and the dbt staging model
takes the latest one per key.

Parsing: the first non-null value of a timestamp column picks a *primary* format among those the
column accepts; every value is parsed with it and only the values it cannot parse are parsed again
with all accepted formats (likewise numbers and dates are first parsed as-is and only re-parsed
after trimming whitespace when that fails). A primary format accepts a subset of what the full rule
accepts, with the same result, so the outcome is the full rule's.

Memory and the key set (the trade-off): key checks need, per distinct key, the key, a 64-bit hash
of the first row that used it and that row's number, which ``duplicate_key`` names (24 bytes; a
unique column keeps the value's key and first row: 16 bytes). A single integer key column is
compared by its value, other keys by a 64-bit hash of their typed values (two different keys
colliding would be taken for one, with probability about n^2/2^65 for n keys). Keys are kept in
memory only until ~1M of them have accumulated (24 MiB; 16 MiB before rows were named); then they
are sorted and spilled to a temporary file, removed when the enforcer is closed or collected. What
stays in memory for the whole input is the range of keys seen, one key per 512 spilled keys, and,
once a key falls inside that range (not for keys that only grow, like sequence numbers), a Bloom
filter of 4 bytes per key, rebuilt twice as large when full (so 4-8 bytes per distinct key: 64 MiB
for 10M random keys, against 160 MiB plus merge copies before). The price: 24 bytes of temporary
disk per key, and a lookup of every key the filter cannot rule out (true repeats and ~0.05% false
positives) in every spilled run, one 4 KiB page read each. Inputs that repeat most of their keys
therefore cost more time, not more memory.

The work is split by concern: :mod:`contracts.parse` (parse plans, fast paths, row rules),
:mod:`contracts.keyset` (the spilling key set), :mod:`contracts.outputs` (bronze and quarantine
batches) and :mod:`contracts.schemas` (column types, table schemas). This module ties them together
and re-exports the schema names other packages import from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

import faults
from contracts.exceptions import SchemaMismatchError
from contracts.keyset import SeenKeys, group_firsts
from contracts.model import Column, Contract
from contracts.outputs import OutputBuilder
from contracts.parse import Parser, Plan, typed_name
from contracts.reader_rows import ReaderRows, reader_rows
from contracts.schemas import (
    ARROW_TYPES,
    BRONZE_METADATA,
    QUARANTINE_METADATA,
    READER_COLUMNS,
    bronze_schema,
    quarantine_schema,
    typed_dtype,
)
from contracts.typed_sources import decode_dictionaries
from contracts.utf8 import mark_invalid_text

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ARROW_TYPES",
    "BRONZE_METADATA",
    "QUARANTINE_METADATA",
    "EnforceCounts",
    "EnforcedBatch",
    "Enforcer",
    "InputContext",
    "PreparedBatch",
    "bronze_schema",
    "quarantine_schema",
    "typed_dtype",
]


@dataclass(frozen=True)
class InputContext:
    """Where the rows being enforced come from; stamped on every output row."""

    manifest_id: str
    source_uri: str
    source_sha256: str
    ingested_at: object  # datetime (UTC); kept loose so polars literal handling stays simple


@dataclass
class EnforceCounts:
    read: int = 0
    valid: int = 0
    rejected: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: EnforceCounts) -> None:
        self.read += other.read
        self.valid += other.valid
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    @property
    def reconciles(self) -> bool:
        return self.read == self.valid + self.rejected + self.duplicates


@dataclass
class EnforcedBatch:
    valid: pa.RecordBatch
    rejected: pa.RecordBatch | None
    counts: EnforceCounts


@dataclass
class PreparedBatch:
    """A batch parsed and checked row by row, awaiting :meth:`Enforcer.finish`."""

    batch: pa.RecordBatch
    plan: Plan
    typed: pl.DataFrame
    flags: pl.DataFrame
    bad: np.ndarray
    offset: int
    reader: ReaderRows | None = None


class Enforcer:
    """Enforce a contract on the record batches of one input.

    Args:
        contract: the dataset's contract.
        context: the input's manifest id, URI and hash, stamped on every output row.
        memory_keys: keys of each key set kept in memory before spilling to a temporary file.

    >>> import pyarrow as pa
    >>> from contracts.loader import load_contracts
    >>> enf = Enforcer(load_contracts()["orders"], context=InputContext("m", "file:///x", "00", None))
    >>> enf.check_columns(["order_id", "customer_id"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    contracts.exceptions.SchemaMismatchError: ...
    """

    def __init__(self, contract: Contract, *, context: InputContext, memory_keys: int = 1 << 20) -> None:
        self.contract = contract
        self.context = context
        self.counts = EnforceCounts()
        self._rows_seen = 0
        self._pk = [contract.column(k) for k in contract.primary_key]
        # Per key: the first row's hash (exact repeat or conflict?) and number (named in messages).
        self._pk_seen = SeenKeys(memory_keys=memory_keys, value_width=2) if self._pk else None
        self._unique_seen = {
            c.name: SeenKeys(memory_keys=memory_keys, value_width=1)
            for c in contract.columns
            if c.constraints.unique and [c.name] != contract.primary_key
        }
        self._parser = Parser(contract)
        self._outputs = OutputBuilder(contract, context)
        self._checked: set[tuple[str, ...]] = set()
        self._sources = list(dict.fromkeys(c.source for c in contract.columns))

    def close(self) -> None:
        """Release the key sets' temporary files (also done when the enforcer is collected)."""
        for seen in [self._pk_seen, *self._unique_seen.values()]:
            if seen is not None:
                seen.close()

    def check_columns(self, source_columns: Sequence[str]) -> None:
        """Fail fast, for the whole input, when its columns cannot fit the contract.

        The reader's reserved columns (``_maestro_error`` ...) are never extra columns. Every
        batch schema is checked once (a reader may change it mid-input).
        """
        present = set(source_columns)
        missing = [c.source for c in self.contract.columns if c.source not in present and not c.nullable]
        known = {c.source for c in self.contract.columns}
        extra = [n for n in source_columns if n not in known and n not in READER_COLUMNS]
        counts: dict[str, int] = {}
        for n in source_columns:
            counts[n] = counts.get(n, 0) + 1
        repeated = [n for n, k in counts.items() if k > 1 and (n in known or n in READER_COLUMNS)]
        problems = []
        if missing:
            problems.append(f"required columns missing: {_names(missing)}")
        if repeated:
            problems.append(f"columns that appear more than once: {_names(repeated)}")
        if extra and self.contract.extra_columns == "reject":
            problems.append(
                f"columns not in contract {self.contract.name} v{self.contract.version}: "
                f"{_names(extra)} (add them to the contract as a new minor version, or set "
                "extra_columns: drop)"
            )
        if problems:
            raise SchemaMismatchError(f"{self.context.source_uri}: " + "; ".join(problems))

    # -- per batch ---------------------------------------------------------------------------

    def process(self, batch: pa.RecordBatch) -> EnforcedBatch:
        """Split one batch into valid and rejected rows; update the running counts."""
        return self.finish(self.prepare(batch))

    def prepare(self, batch: pa.RecordBatch) -> PreparedBatch:
        """First half of :meth:`process`: parse and check each row on its own.

        ``prepare`` and :meth:`finish` may run on two threads (one each) as a pipeline, provided
        each sees the batches in input order; rows are numbered here.
        """
        names = tuple(batch.schema.names)
        if names not in self._checked:
            self.check_columns(names)
            self._checked.add(names)
        batch = decode_dictionaries(batch, self._sources)
        batch = mark_invalid_text(batch, self._sources)  # before polars: bad UTF-8 makes it panic
        try:
            plan = self._parser.plan(batch.schema)
        except SchemaMismatchError as err:
            raise SchemaMismatchError(f"{self.context.source_uri}: {err}") from err
        offset = self._rows_seen
        self._rows_seen += batch.num_rows
        typed = self._parser.parse(batch, plan)
        flags = typed.select([expr for _, expr in plan.rules])
        if plan.rules:
            bad = flags.select(pl.any_horizontal(pl.all())).to_series().to_numpy(writable=True)
        else:
            bad = np.zeros(batch.num_rows, dtype=bool)
        reader = reader_rows(batch)
        if reader is not None:
            bad |= reader.failed
        return PreparedBatch(batch, plan, typed, flags, bad, offset, reader)

    def finish(self, prepared: PreparedBatch) -> EnforcedBatch:
        """Second half of :meth:`process`: key and unique checks against earlier rows; outputs."""
        batch, plan, typed, flags, bad, offset = (
            prepared.batch,
            prepared.plan,
            prepared.typed,
            prepared.flags,
            prepared.bad,
            prepared.offset,
        )
        n = batch.num_rows
        counts = EnforceCounts(read=n)
        # Row index -> (reason found by the key or unique checks, the earlier row holding the value).
        extra_reason: dict[int, tuple[str, int]] = {}
        dup = np.zeros(n, dtype=bool)
        if self._pk_seen is not None:
            dup, conflict, earlier = self._check_keys(typed, bad, offset)
            bad |= conflict
            for i in np.flatnonzero(conflict).tolist():
                extra_reason[i] = ("duplicate_key", int(earlier[i]))
        for col_name, seen in self._unique_seen.items():
            clash, earlier = self._check_unique(typed, col_name, seen, ~bad & ~dup, offset)
            bad |= clash
            for i in np.flatnonzero(clash).tolist():
                extra_reason[i] = (f"unique:{col_name}", int(earlier[i]))

        good = ~bad & ~dup
        counts.valid = int(good.sum())
        counts.duplicates = int(dup.sum())
        counts.rejected = int(bad.sum())
        valid = self._outputs.valid(batch, typed, plan, good, offset)
        rejected = None
        if counts.rejected:
            rejected = self._outputs.rejected(
                batch, plan, flags, bad, extra_reason, counts.reasons, offset, prepared.reader
            )
        first = self.counts.read == 0
        self.counts.add(counts)
        if first:  # once per input (not per batch, so a kill-point campaign stays bounded)
            faults.point("contracts.first_batch_enforced")
        return EnforcedBatch(valid=valid, rejected=rejected, counts=counts)

    def _check_keys(
        self, typed: pl.DataFrame, bad: np.ndarray, offset: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (exact-duplicate mask, key-conflict mask, number of the row that first held
        each row's key) for rows not already bad."""
        assert self._pk_seen is not None
        good_idx = np.flatnonzero(~bad)
        dup_full = np.zeros(bad.size, dtype=bool)
        conflict_full = np.zeros(bad.size, dtype=bool)
        earlier_full = np.zeros(bad.size, dtype=np.uint64)
        if good_idx.size == 0:
            return dup_full, conflict_full, earlier_full
        # Hash every row and pick the good ones: cheaper than gathering the rows first.
        k = _key_values(typed, self._pk)[good_idx]
        hashes = typed.select([typed_name(c) for c in self.contract.columns]).hash_rows(seed=2)
        r = hashes.to_numpy()[good_idx]
        order, start, group = group_firsts(k)
        # Within the batch the first row of each key is its representative ...
        firsts = order[start]
        first_keys, first_hashes = k[firsts], r[firsts]
        first_rows = (good_idx[firsts] + (offset + 1)).astype(np.uint64)
        # ... unless an earlier batch stored one.
        found, stored = self._pk_seen.lookup(first_keys)
        rep = np.where(found, stored[:, 0], first_hashes)[group]
        is_rep = start & ~found[group]
        r_sorted = r[order]
        same = r_sorted == rep
        dup = np.empty(k.size, dtype=bool)
        conflict_sorted = ~is_rep & ~same
        dup[order] = ~is_rep & same
        dup_full[good_idx] = dup
        if conflict_sorted.any():  # rare: only then look up which row holds each key
            g = group[conflict_sorted]
            at = good_idx[order[conflict_sorted]]
            conflict_full[at] = True
            earlier_full[at] = np.where(found[g], stored[g, 1], first_rows[g])
        new = ~found
        self._pk_seen.add(first_keys[new], np.column_stack((first_hashes[new], first_rows[new])))
        return dup_full, conflict_full, earlier_full

    def _check_unique(
        self, typed: pl.DataFrame, col_name: str, seen: SeenKeys, fresh: np.ndarray, offset: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows (among ``fresh``) whose value of ``col_name`` an earlier kept row already used,
        and the number of the row that first used each row's value."""
        col = self.contract.column(col_name)
        clash = np.zeros(fresh.size, dtype=bool)
        earlier_full = np.zeros(fresh.size, dtype=np.uint64)
        values = typed.get_column(typed_name(col))
        idx = np.flatnonzero(fresh & values.is_not_null().to_numpy())
        if idx.size == 0:
            return clash, earlier_full
        k = _key_values(typed.select(values.gather(idx)), [col])
        order, start, group = group_firsts(k)
        firsts = order[start]
        first_keys, first_rows = k[firsts], (idx[firsts] + (offset + 1)).astype(np.uint64)
        found, stored = seen.lookup(first_keys)
        sub = np.empty(k.size, dtype=bool)
        sub[order] = ~start | found[group]
        earlier = np.empty(k.size, dtype=np.uint64)
        earlier[order] = np.where(found, stored[:, 0], first_rows)[group]
        seen.add(first_keys[~found], first_rows[~found])
        clash[idx] = sub
        earlier_full[idx] = earlier
        return clash, earlier_full


def _names(names: Sequence[str], *, limit: int = 20) -> str:
    """Column names for a message: quoted (a name may hold any character), at most ``limit``."""
    shown = ", ".join(repr(n if len(n) <= 100 else n[:99] + "…") for n in names[:limit])
    return shown + (f" ... and {len(names) - limit} more" if len(names) > limit else "")


def _key_values(df: pl.DataFrame, cols: list[Column]) -> np.ndarray:
    """64-bit keys of ``cols``: an integer column's own value, else a hash of the typed values."""
    if len(cols) == 1 and cols[0].type in ("int32", "int64"):
        return df.get_column(typed_name(cols[0])).cast(pl.Int64).fill_null(0).to_numpy().view(np.uint64)
    if len(cols) == 1:
        return df.get_column(typed_name(cols[0])).hash(seed=7).to_numpy()
    return df.select(pl.struct([pl.col(typed_name(c)) for c in cols]).hash(seed=1)).to_series().to_numpy()
