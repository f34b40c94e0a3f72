"""Vectorised contract enforcement, one record batch at a time.

An :class:`Enforcer` is created per input (one manifest) and fed the input's record batches in
order. For each batch it returns the rows that keep the contract (typed, in contract column order)
and the rows that break it (original values as text, with a reason code per failed rule).

Every input row ends in exactly one place, so ``read == valid + rejected + duplicates``:

- **valid** rows go to the bronze table;
- **rejected** rows go to the quarantine table. Reason codes: ``type:<col>`` (value present but not
  parsable as the column type), ``not_null:<col>``, ``min:<col>``, ``max:<col>``,
  ``allowed_values:<col>``, ``pattern:<col>``, ``min_length:<col>``, ``max_length:<col>``,
  ``unique:<col>`` (value already used by an earlier kept row of this input), ``duplicate_key``
  (primary key already used by an earlier kept row of this input with *different* values);
- **duplicates** are rows identical, in every contract column, to an earlier row of this input with
  the same primary key. They carry no information, so they are counted and dropped.

The duplicate rule: within one input the first occurrence of a primary key wins. Only rows that
pass every column rule take part in the key and unique checks, so a row rejected by a column rule
never claims a key or a unique value, and the outcome does not depend on where batch boundaries
fall. The primary key is checked before unique constraints: a row with a new key but a used unique
value is rejected (``unique:<col>``) yet keeps its key. Across inputs the bronze table keeps every
version (with its source pointer) and the dbt staging model takes the latest one per key.

Parsing: the first non-null value of a timestamp column picks a *primary* format among those the
column accepts; every value is parsed with it and only the values it cannot parse are parsed again
with all accepted formats (likewise numbers and dates are first parsed as-is and only re-parsed
after trimming whitespace when that fails). A primary format accepts a subset of what the full rule
accepts, with the same result, so the outcome is the full rule's.

Memory and the key set (the trade-off): key checks need, per distinct key, the key and a 64-bit hash
of the first row that used it (16 bytes). A single integer key column is compared by its value,
other keys by a 64-bit hash of their typed values (two different keys colliding would be taken for
one, with probability about n^2/2^65 for n keys). Keys are kept in memory only until ~1M of them
have accumulated (16 MiB); then they are sorted and spilled to a temporary file, removed when the
enforcer is closed or collected. What stays in memory for the whole input is the range of keys seen,
one key per 512 spilled keys, and, once a key falls inside that range (not for keys that only grow,
like sequence numbers), a Bloom filter of 4 bytes per key, rebuilt twice as large when full (so 4-8
bytes per distinct key: 64 MiB for 10M random keys, against 160 MiB plus merge copies before).
The price: 16 bytes of temporary disk per key, and a lookup of every key the filter cannot rule out
(true repeats and ~0.05% false positives) in every spilled run, one 4 KiB page read each. Inputs
that repeat most of their keys therefore cost more time, not more memory.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.exceptions import SchemaMismatchError
from contracts.model import Column, Contract

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.large_string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
# Exact spellings accepted without trimming/lower-casing (a subset of the rule above).
_TRUE_FAST = tuple({v for t in _TRUE for v in (t, t.upper(), t.capitalize())})
_FALSE_FAST = tuple({v for f in _FALSE for v in (f, f.upper(), f.capitalize())})
# Timestamps: ISO 8601 with an offset or Z, or naive (taken as UTC). (format, has an offset)
_TS_FORMATS = (
    ("%Y-%m-%dT%H:%M:%S%.f%#z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
)
# Fixed-width formats polars parses on its fast path; each accepts a subset of one format above.
# "...Z" is parsed as naive and then taken as UTC, which is what the offset format gives for "Z".
_TS_FAST_FORMATS = (
    ("%Y-%m-%dT%H:%M:%SZ", False),
    ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%d %H:%M:%S", False),
)

# Metadata columns every bronze row carries: where it came from and under which contract.
BRONZE_METADATA = pa.schema(
    [
        ("_manifest_id", pa.large_string()),
        ("_source_uri", pa.large_string()),
        ("_source_row", pa.int64()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ("_contract_version", pa.large_string()),
    ]
)
QUARANTINE_METADATA = pa.schema(
    [
        ("_reasons", pa.large_list(pa.large_string())),
        ("_errors", pa.large_string()),
        ("_manifest_id", pa.large_string()),
        ("_source_uri", pa.large_string()),
        ("_source_sha256", pa.large_string()),
        ("_source_row", pa.int64()),
        ("_quarantined_at", pa.timestamp("us", tz="UTC")),
        ("_contract_version", pa.large_string()),
    ]
)


def bronze_schema(contract: Contract) -> pa.Schema:
    """Arrow schema of a dataset's bronze table: contract columns, then metadata columns."""
    fields = [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in contract.columns]
    return pa.schema(fields + list(BRONZE_METADATA))


def quarantine_schema(contract: Contract) -> pa.Schema:
    """Arrow schema of a dataset's quarantine table: every contract column as original text."""
    fields = [pa.field(c.name, pa.large_string()) for c in contract.columns]
    return pa.schema(fields + list(QUARANTINE_METADATA))


def typed_dtype(col: Column) -> pl.DataType:
    """The polars type a contract column is parsed to."""
    return _POLARS_TYPES[col.type]


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
    plan: _Plan
    typed: pl.DataFrame
    flags: pl.DataFrame
    bad: np.ndarray
    offset: int


# --------------------------------------------------------------------------------------- keys


def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads integer keys (often sequential) over all 64 bits."""
    x = keys ^ (keys >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


class _BloomFilter:
    """Blocked Bloom filter of 64-bit keys: one 64-bit word per key, 6 bits set in it.

    Sized for ``capacity`` keys at 32 bits a key (~0.05% false positives when full). Growing means
    building a bigger one from the keys (see :meth:`_SeenKeys._build_filter`).
    """

    BITS_PER_KEY = 32
    K = 6

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._log_words = max(1, int(capacity * self.BITS_PER_KEY // 64 - 1).bit_length())
        self._words = np.zeros(1 << self._log_words, dtype=np.uint64)

    def _slots(self, mixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's word (from its high bits) and its bits within the word (from its low bits)."""
        word = (mixed >> np.uint64(64 - self._log_words)).astype(np.intp)
        mask = np.zeros(mixed.shape, dtype=np.uint64)
        one, six_bits = np.uint64(1), np.uint64(63)
        for i in range(self.K):
            mask |= one << ((mixed >> np.uint64(6 * i)) & six_bits)
        return word, mask

    def might_contain(self, mixed: np.ndarray) -> np.ndarray:
        word, mask = self._slots(mixed)
        return (self._words[word] & mask) == mask

    def add(self, mixed: np.ndarray) -> None:
        word, mask = self._slots(mixed)
        # A fancy-indexed |= keeps only the last of keys sharing a word (ufunc.at is ~5x slower),
        # so repeat it for the keys whose bits did not land; each pass settles one per word.
        while word.size:
            self._words[word] |= mask
            lost = (self._words[word] & mask) != mask
            word, mask = word[lost], mask[lost]

    @property
    def nbytes(self) -> int:
        return self._words.nbytes


_BLOCK = 512  # keys per 4 KiB page of a spilled run


class _SpilledRun:
    """Sorted keys (and values) in a temporary file; in memory only every 512th key."""

    def __init__(self, path: str, keys: np.ndarray, values: np.ndarray | None) -> None:
        pad = (-keys.size) % _BLOCK  # whole pages: repeat the last key (lookups find its first copy)
        self.path, self.size, self.padded = path, keys.size, keys.size + pad
        with open(path, "wb") as f:
            for part in (keys, values):
                if part is not None:
                    np.concatenate([part, np.repeat(part[-1:], pad)]).tofile(f)
        self.fences = keys[::_BLOCK].copy()
        self.has_values = values is not None

    def iter_keys(self, *, chunk: int = 1 << 20) -> Iterator[np.ndarray]:
        """The run's keys in pieces of ``chunk`` (bounded memory)."""
        with open(self.path, "rb") as f:
            for start in range(0, self.size, chunk):
                yield np.fromfile(f, dtype=np.uint64, count=min(chunk, self.size - start))

    def lookup(self, probe: np.ndarray, found: np.ndarray, values: np.ndarray) -> None:
        """Mark ``probe`` keys present in this run (and fetch their values) in place."""
        block = np.searchsorted(self.fences, probe, side="right") - 1
        cand = np.flatnonzero(block >= 0)
        if cand.size == 0:
            return
        mm = np.memmap(self.path, dtype=np.uint64, mode="r")  # unmapped below: pages leave RSS
        try:
            pages = mm[: self.padded].reshape(-1, _BLOCK)
            for lo in range(0, cand.size, 4096):  # bounded temporaries: 4096 x 512 comparisons
                idx = cand[lo : lo + 4096]
                rows = pages[block[idx]]
                pos = (rows < probe[idx, None]).sum(axis=1)
                hit = rows[np.arange(idx.size), np.minimum(pos, _BLOCK - 1)] == probe[idx]
                found[idx[hit]] = True
                if self.has_values:
                    values[idx[hit]] = mm[self.padded + block[idx[hit]] * _BLOCK + pos[hit]]
        finally:
            del mm


class _SeenKeys:
    """Exact set of distinct 64-bit keys, each with a 64-bit value (the first row's hash).

    Recent keys are kept in memory as sorted chunks; past ``memory_keys`` they are merged and
    spilled to a temporary file. In front, the range of keys seen and a Bloom filter answer for
    (nearly) every new key without touching either, so lookups cost O(batch) plus O(repeats x
    runs) page reads. The filter is only built once a key falls inside the range seen so far:
    keys that only grow (sequence numbers) never need it.
    """

    def __init__(self, *, memory_keys: int = 1 << 20, with_values: bool = True) -> None:
        self.memory_keys = max(1, memory_keys)
        self.with_values = with_values
        self._filter: _BloomFilter | None = None
        self._lo = self._hi = np.uint64(0)
        self._chunks: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._in_memory = 0
        self._runs: list[_SpilledRun] = []
        self._dir: str | None = None
        self._cleanup: weakref.finalize | None = None
        self.size = 0

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found mask, stored value or 0) for each of ``keys`` (distinct)."""
        found = np.zeros(keys.size, dtype=bool)
        values = np.zeros(keys.size, dtype=np.uint64)
        if self.size == 0 or keys.size == 0:
            return found, values
        maybe = np.flatnonzero((keys >= self._lo) & (keys <= self._hi))  # new ids often just grow
        if maybe.size:
            if self._filter is None:
                self._build_filter()
            assert self._filter is not None
            maybe = maybe[self._filter.might_contain(_mix(keys[maybe]))]
        if maybe.size == 0:
            return found, values
        probe = keys[maybe]
        sub_found = np.zeros(maybe.size, dtype=bool)
        sub_values = np.zeros(maybe.size, dtype=np.uint64)
        for chunk_keys, chunk_values in self._chunks:
            pos = np.minimum(np.searchsorted(chunk_keys, probe), chunk_keys.size - 1)
            hit = chunk_keys[pos] == probe
            sub_found |= hit
            if chunk_values is not None:
                sub_values[hit] = chunk_values[pos[hit]]
        for run in self._runs:
            run.lookup(probe, sub_found, sub_values)
        found[maybe] = sub_found
        values[maybe] = sub_values
        return found, values

    def add(self, keys: np.ndarray, values: np.ndarray | None = None) -> None:
        """Add ``keys`` (distinct, sorted, none already present) with their ``values``."""
        if keys.size == 0:
            return
        self._lo = keys[0] if self.size == 0 else min(self._lo, keys[0])
        self._hi = keys[-1] if self.size == 0 else max(self._hi, keys[-1])
        self._chunks.append((keys, values if self.with_values else None))
        self._in_memory += keys.size
        self.size += keys.size
        if self._filter is not None and self.size > self._filter.capacity:
            self._build_filter()
        elif self._filter is not None:
            self._filter.add(_mix(keys))
        if self._in_memory >= self.memory_keys:
            self._spill()

    def _build_filter(self) -> None:
        """A filter with room for the keys so far, twice over, built from them (amortised O(1))."""
        self._filter = None  # free the old one first
        self._filter = _BloomFilter(1 << max(16, (2 * self.size - 1).bit_length()))
        for run in self._runs:
            for part in run.iter_keys():
                self._filter.add(_mix(part))
        for chunk_keys, _ in self._chunks:
            self._filter.add(_mix(chunk_keys))

    def _spill(self) -> None:
        keys = np.concatenate([k for k, _ in self._chunks])
        values = np.concatenate([v for _, v in self._chunks]) if self.with_values else None  # type: ignore[misc]
        ascending = all(a[-1] < b[0] for (a, _), (b, _) in itertools.pairwise(self._chunks))
        if not ascending:
            order = np.argsort(keys, kind="stable")  # the chunks are sorted runs: a linear merge
            keys = keys[order]
            values = values[order] if values is not None else None
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="maestro-keys-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        path = os.path.join(self._dir, f"run-{len(self._runs):05d}.u64")
        self._runs.append(_SpilledRun(path, keys, values))
        self._chunks, self._in_memory = [], 0

    def close(self) -> None:
        """Remove the spill files now (they are also removed when the set is collected)."""
        if self._cleanup is not None:
            self._cleanup()
        self._chunks, self._runs = [], []

    @property
    def memory_bytes(self) -> int:
        chunks = sum(k.nbytes + (v.nbytes if v is not None else 0) for k, v in self._chunks)
        filter_bytes = self._filter.nbytes if self._filter is not None else 0
        return filter_bytes + chunks + sum(r.fences.nbytes for r in self._runs)


def _firsts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group equal keys: (stable sort order, True at each group's first row in that order, group id)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    start = np.empty(keys.size, dtype=bool)
    start[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
    return order, start, np.cumsum(start) - 1


# ------------------------------------------------------------------------------------ parsing


def _full_parse(col: Column, raw: pl.Expr) -> pl.Expr:
    """The contract's parsing rule for text: unparsable values become null."""
    s = raw.str.strip_chars()
    if col.type in ("int32", "int64", "float64"):
        out = s.cast(_POLARS_TYPES[col.type], strict=False)
        # NaN and infinity are not values a contract can range-check; treat them as type errors.
        return pl.when(out.is_finite()).then(out) if col.type == "float64" else out
    if col.type == "boolean":
        low = s.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    if col.type == "date":
        return s.str.to_date("%Y-%m-%d", strict=False)
    return pl.coalesce(*(_ts(s, fmt, aware) for fmt, aware in _TS_FORMATS))


def _ts(s: pl.Expr, fmt: str, aware: bool) -> pl.Expr:
    if aware:
        return s.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC", cache=False)
    naive = s.str.to_datetime(fmt, strict=False, time_unit="us", cache=False)
    return naive.dt.replace_time_zone("UTC")


def _fast_parse(col: Column, raw: pl.Expr, ts_format: tuple[str, bool] | None) -> pl.Expr:
    """A cheaper parse that accepts a subset of :func:`_full_parse`'s values, with equal results."""
    if col.type in ("int32", "int64", "float64"):
        out = raw.cast(_POLARS_TYPES[col.type], strict=False)
        return pl.when(out.is_finite()).then(out) if col.type == "float64" else out
    if col.type == "boolean":
        return pl.when(raw.is_in(_TRUE_FAST)).then(True).when(raw.is_in(_FALSE_FAST)).then(False)
    if col.type == "date":
        return raw.str.to_date("%Y-%m-%d", strict=False, cache=False)
    if ts_format is None:
        return _full_parse(col, raw)
    return _ts(raw, *ts_format)


def _primary_ts_format(sample: str) -> tuple[str, bool] | None:
    """The cheapest format that parses ``sample`` exactly as the full rule does."""
    s = pl.Series([sample])
    want = pl.select(_full_parse(Column(name="x", type="timestamp"), pl.lit(s))).to_series()[0]
    if want is None:
        return None
    for fmt, aware in _TS_FAST_FORMATS + _TS_FORMATS:
        if pl.select(_ts(pl.lit(s), fmt, aware)).to_series()[0] == want:
            return fmt, aware
    return None


def _rule_failures(col: Column, typed: pl.Expr, raw: pl.Expr, parsed: bool) -> list[tuple[str, pl.Expr]]:
    """(reason code, boolean expression true where the rule fails) for one column."""
    name, c = col.name, col.constraints
    present = typed.is_not_null()
    rules: list[tuple[str, pl.Expr]] = []
    if parsed:
        rules.append((f"type:{name}", raw.is_not_null() & typed.is_null()))
    if not col.nullable:
        rules.append((f"not_null:{name}", raw.is_null()))
    dtype = typed_dtype(col)
    if c.min is not None:
        lo = pl.lit(c.min).cast(dtype) if col.type in ("date", "timestamp") else c.min
        rules.append((f"min:{name}", present & (typed < lo)))
    if c.max is not None:
        hi = pl.lit(c.max).cast(dtype) if col.type in ("date", "timestamp") else c.max
        rules.append((f"max:{name}", present & (typed > hi)))
    if c.allowed_values is not None:
        allowed = pl.Series(c.allowed_values).cast(dtype, strict=False)
        rules.append((f"allowed_values:{name}", present & ~typed.is_in(allowed.implode())))
    if c.pattern is not None:
        rules.append((f"pattern:{name}", present & ~typed.str.contains(c.pattern)))
    if c.min_length is not None:
        rules.append((f"min_length:{name}", present & (typed.str.len_chars() < c.min_length)))
    if c.max_length is not None:
        rules.append((f"max_length:{name}", present & (typed.str.len_chars() > c.max_length)))
    return [(code, expr.fill_null(False).alias(code)) for code, expr in rules]


@dataclass
class _Plan:
    """Per source schema: how each contract column is parsed and checked (built once)."""

    parsed: list[Column]  # text parsed to a non-string type (fast parse, then fallback)
    cast: list[Column]  # typed source cast to the contract type
    text: list[Column]  # text kept as text
    absent: list[Column]  # nullable columns the source does not have
    rules: list[tuple[str, pl.Expr]] = field(default_factory=list)


def _t(col: Column) -> str:
    return f"__t_{col.name}"


# ----------------------------------------------------------------------------------- enforcer


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
        self._pk_seen = _SeenKeys(memory_keys=memory_keys) if self._pk else None
        self._unique_seen = {
            c.name: _SeenKeys(memory_keys=memory_keys, with_values=False)
            for c in contract.columns
            if c.constraints.unique and [c.name] != contract.primary_key
        }
        self._bronze_schema = bronze_schema(contract)
        self._quarantine_schema = quarantine_schema(contract)
        self._extra: list[str] = []
        self._plans: dict[tuple[tuple[str, pa.DataType], ...], _Plan] = {}
        self._ts_formats: dict[str, tuple[str, bool]] = {}
        self._constants: dict[str, pa.Array] = {}

    def close(self) -> None:
        """Release the key sets' temporary files (also done when the enforcer is collected)."""
        for seen in [self._pk_seen, *self._unique_seen.values()]:
            if seen is not None:
                seen.close()

    def check_columns(self, source_columns: Sequence[str]) -> None:
        """Fail fast, for the whole input, when its columns cannot fit the contract."""
        present = set(source_columns)
        missing = [c.source for c in self.contract.columns if c.source not in present and not c.nullable]
        known = {c.source for c in self.contract.columns}
        extra = [n for n in source_columns if n not in known]
        problems = []
        if missing:
            problems.append(f"required columns missing: {', '.join(missing)}")
        if extra and self.contract.extra_columns == "reject":
            problems.append(
                f"columns not in contract {self.contract.name} v{self.contract.version}: "
                f"{', '.join(extra)} (add them to the contract as a new minor version, or set "
                "extra_columns: drop)"
            )
        if problems:
            raise SchemaMismatchError(f"{self.context.source_uri}: " + "; ".join(problems))
        self._extra = extra

    # -- per batch ---------------------------------------------------------------------------

    def process(self, batch: pa.RecordBatch) -> EnforcedBatch:
        """Split one batch into valid and rejected rows; update the running counts."""
        return self.finish(self.prepare(batch))

    def prepare(self, batch: pa.RecordBatch) -> PreparedBatch:
        """First half of :meth:`process`: parse and check each row on its own.

        ``prepare`` and :meth:`finish` may run on two threads (one each) as a pipeline, provided
        each sees the batches in input order; rows are numbered here.
        """
        if self._rows_seen == 0:
            self.check_columns(batch.schema.names)
        offset = self._rows_seen
        self._rows_seen += batch.num_rows
        plan = self._plan(batch.schema)
        typed = self._typed(batch, plan)
        flags = typed.select([expr for _, expr in plan.rules])
        if plan.rules:
            bad = flags.select(pl.any_horizontal(pl.all())).to_series().to_numpy(writable=True)
        else:
            bad = np.zeros(batch.num_rows, dtype=bool)
        return PreparedBatch(batch, plan, typed, flags, bad, offset)

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
        extra_reason: dict[int, str] = {}
        dup = np.zeros(n, dtype=bool)
        if self._pk_seen is not None:
            dup, conflict = self._check_keys(typed, bad)
            bad |= conflict
            extra_reason.update(dict.fromkeys(np.flatnonzero(conflict).tolist(), "duplicate_key"))
        for col_name, seen in self._unique_seen.items():
            clash = self._check_unique(typed, col_name, seen, ~bad & ~dup)
            bad |= clash
            extra_reason.update(dict.fromkeys(np.flatnonzero(clash).tolist(), f"unique:{col_name}"))

        good = ~bad & ~dup
        counts.valid = int(good.sum())
        counts.duplicates = int(dup.sum())
        counts.rejected = int(bad.sum())
        valid = self._valid_batch(batch, typed, plan, good, offset)
        rejected = None
        if counts.rejected:
            rejected = self._rejected_batch(batch, plan, flags, bad, extra_reason, counts, offset)
        self.counts.add(counts)
        return EnforcedBatch(valid=valid, rejected=rejected, counts=counts)

    def _plan(self, schema: pa.Schema) -> _Plan:
        key = tuple((f.name, f.type) for f in schema)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        plan = _Plan(parsed=[], cast=[], text=[], absent=[])
        for c in self.contract.columns:
            if c.source not in schema.names:
                plan.absent.append(c)
            elif not _is_text(schema.field(c.source).type):
                plan.cast.append(c)
            elif c.type == "string":
                plan.text.append(c)
            else:
                plan.parsed.append(c)
        for c in self.contract.columns:
            parsed = c in plan.parsed or (c in plan.cast and c.type != "string")
            plan.rules += _rule_failures(c, pl.col(_t(c)), pl.col(c.source), parsed)
        self._plans[key] = plan
        return plan

    def _typed(self, batch: pa.RecordBatch, plan: _Plan) -> pl.DataFrame:
        """Source columns plus one ``__t_<name>`` column per contract column, in contract types."""
        names = [c.source for c in plan.parsed + plan.cast + plan.text]
        df = pl.from_arrow(batch.select(list(dict.fromkeys(names))))
        assert isinstance(df, pl.DataFrame)
        for c in plan.parsed:
            if c.type == "timestamp" and c.name not in self._ts_formats:
                sample = df.get_column(c.source).drop_nulls().head(1).str.strip_chars()
                if sample.len() and (fmt := _primary_ts_format(sample[0])) is not None:
                    self._ts_formats[c.name] = fmt
        exprs = [
            _fast_parse(c, pl.col(c.source), self._ts_formats.get(c.name)).alias(_t(c)) for c in plan.parsed
        ]
        exprs += [pl.col(c.source).cast(typed_dtype(c), strict=False).alias(_t(c)) for c in plan.cast]
        exprs += [pl.col(c.source).alias(_t(c)) for c in plan.text]
        exprs += [pl.lit(None, dtype=pl.String).alias(c.source) for c in plan.absent]
        exprs += [pl.lit(None, dtype=typed_dtype(c)).alias(_t(c)) for c in plan.absent]
        df = df.with_columns(exprs)
        # Values the fast parse could not read get the full rule (usually few or none).
        for c in plan.parsed:
            t = df.get_column(_t(c))
            if t.null_count() == df.get_column(c.source).null_count():
                continue
            retry = np.flatnonzero((t.is_null() & df.get_column(c.source).is_not_null()).to_numpy())
            again = df.select(pl.col(c.source).gather(retry)).select(_full_parse(c, pl.col(c.source)))
            df = df.with_columns(t.scatter(retry, again.to_series()))
        return df

    def _check_keys(self, typed: pl.DataFrame, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (exact-duplicate mask, key-conflict mask) for rows not already bad."""
        assert self._pk_seen is not None
        good_idx = np.flatnonzero(~bad)
        dup_full = np.zeros(bad.size, dtype=bool)
        conflict_full = np.zeros(bad.size, dtype=bool)
        if good_idx.size == 0:
            return dup_full, conflict_full
        # Hash every row and pick the good ones: cheaper than gathering the rows first.
        k = _key_values(typed, self._pk)[good_idx]
        r = typed.select([_t(c) for c in self.contract.columns]).hash_rows(seed=2)
        r = r.to_numpy()[good_idx]
        order, start, group = _firsts(k)
        # Within the batch the first row of each key is its representative ...
        first_keys, first_rows = k[order[start]], r[order[start]]
        # ... unless an earlier batch stored one.
        found, stored = self._pk_seen.lookup(first_keys)
        rep = np.where(found, stored, first_rows)[group]
        is_rep = start & ~found[group]
        r_sorted = r[order]
        dup = np.empty(k.size, dtype=bool)
        conflict = np.empty(k.size, dtype=bool)
        dup[order] = ~is_rep & (r_sorted == rep)
        conflict[order] = ~is_rep & (r_sorted != rep)
        self._pk_seen.add(first_keys[~found], first_rows[~found])
        dup_full[good_idx] = dup
        conflict_full[good_idx] = conflict
        return dup_full, conflict_full

    def _check_unique(
        self, typed: pl.DataFrame, col_name: str, seen: _SeenKeys, fresh: np.ndarray
    ) -> np.ndarray:
        """Rows (among ``fresh``) whose value of ``col_name`` an earlier kept row already used."""
        col = self.contract.column(col_name)
        clash = np.zeros(fresh.size, dtype=bool)
        values = typed.get_column(_t(col))
        idx = np.flatnonzero(fresh & values.is_not_null().to_numpy())
        if idx.size == 0:
            return clash
        k = _key_values(typed.select(values.gather(idx)), [col])
        order, start, group = _firsts(k)
        first_keys = k[order[start]]
        found, _ = seen.lookup(first_keys)
        sub = np.empty(k.size, dtype=bool)
        sub[order] = ~start | found[group]
        seen.add(first_keys[~found])
        clash[idx] = sub
        return clash

    # -- outputs -----------------------------------------------------------------------------

    def _constant(self, name: str, value: object, type_: pa.DataType, n: int) -> pa.Array:
        """``value`` repeated ``n`` times, sliced from one cached array (no per-batch copies)."""
        cached = self._constants.get(name)
        if cached is None or len(cached) < n:
            cached = _repeat(value, type_, max(n, 1024))
            self._constants[name] = cached
        return cached.slice(0, n)

    def _valid_batch(
        self, batch: pa.RecordBatch, typed: pl.DataFrame, plan: _Plan, good: np.ndarray, offset: int
    ) -> pa.RecordBatch:
        ctx = self.context
        arrays = []
        for c in self.contract.columns:
            if c in plan.text:  # the source text itself: no copy through polars
                arr = _large_text(batch.column(c.source))
            else:
                arr = typed.get_column(_t(c)).to_arrow(compat_level=pl.CompatLevel.oldest())
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

    def _rejected_batch(
        self,
        batch: pa.RecordBatch,
        plan: _Plan,
        flags: pl.DataFrame,
        bad: np.ndarray,
        extra_reason: dict[int, str],
        counts: EnforceCounts,
        offset: int,
    ) -> pa.RecordBatch:
        ctx = self.context
        bad_idx = np.flatnonzero(bad)
        codes = [code for code, _ in plan.rules]
        fails = flags.select(codes)[bad_idx].rows() if codes else [()] * bad_idx.size
        reason_lists: list[list[str]] = []
        for i, row in zip(bad_idx.tolist(), fails, strict=True):
            reasons = [code for code, failed in zip(codes, row, strict=True) if failed]
            if i in extra_reason:
                reasons.append(extra_reason[i])
            reason_lists.append(reasons)
            for code in reasons:
                counts.reasons[code] = counts.reasons.get(code, 0) + 1
        sources = list(dict.fromkeys(c.source for c in self.contract.columns if c not in plan.absent))
        picked = _keep_rows(batch.select(sources), bad)
        originals: dict[str, pa.Array] = {}
        for c in self.contract.columns:
            if c in plan.absent:
                originals[c.name] = pa.nulls(bad_idx.size, pa.large_string())
            elif c in plan.cast:  # typed source: its text as polars writes it
                s = pl.from_arrow(picked.column(c.source))
                assert isinstance(s, pl.Series)
                originals[c.name] = s.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
            else:
                originals[c.name] = _large_text(picked.column(c.source))
        errors = [
            "; ".join(_explain(code, originals, i) for code in reasons)
            for i, reasons in enumerate(reason_lists)
        ]
        m = bad_idx.size
        arrays = [originals[c.name] for c in self.contract.columns] + [
            pl.Series(reason_lists, dtype=pl.List(pl.String)).to_arrow(compat_level=_OLDEST),
            pl.Series(errors, dtype=pl.String).to_arrow(compat_level=_OLDEST),
            self._constant("_manifest_id", ctx.manifest_id, pa.large_string(), m),
            self._constant("_source_uri", ctx.source_uri, pa.large_string(), m),
            self._constant("_source_sha256", ctx.source_sha256, pa.large_string(), m),
            _int64s(bad_idx + (offset + 1)),
            self._constant("_quarantined_at", ctx.ingested_at, pa.timestamp("us", tz="UTC"), m),
            self._constant("_contract_version", self.contract.version, pa.large_string(), m),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self._quarantine_schema)


# Arrow arrays are built here from buffers, through polars, or by slicing and concatenating:
# pa.array(), Array.cast/filter/take and Array.__array__ import pyarrow.compute and pandas on first
# use, half a second of every ingest process's first input.
_OLDEST = pl.CompatLevel.oldest()


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


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _key_values(df: pl.DataFrame, cols: list[Column]) -> np.ndarray:
    """64-bit keys of ``cols``: an integer column's own value, else a hash of the typed values."""
    if len(cols) == 1 and cols[0].type in ("int32", "int64"):
        return df.get_column(_t(cols[0])).cast(pl.Int64).fill_null(0).to_numpy().view(np.uint64)
    if len(cols) == 1:
        return df.get_column(_t(cols[0])).hash(seed=7).to_numpy()
    return df.select(pl.struct([pl.col(_t(c)) for c in cols]).hash(seed=1)).to_series().to_numpy()


def _explain(code: str, originals: dict[str, Any], i: int) -> str:
    """Human-readable reason, quoting the offending original value."""
    rule, _, col = code.partition(":")
    if not col:
        return "primary key already used in this input by a row with different values"
    value = originals[col][i].as_py()
    shown = "null" if value is None else repr(value)
    return f"{col}: {shown} fails {rule}"
