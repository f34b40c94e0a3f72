"""Vectorised contract enforcement, one record batch at a time.

An :class:`Enforcer` is created per input (one manifest) and fed the input's record batches in
order. For each batch it returns the rows that keep the contract (typed, in contract column order)
and the rows that break it (original values as text, with a reason code per failed rule). Memory is
bounded by the batch size plus 16 bytes per distinct primary key seen in the input.

Every input row ends in exactly one place, so ``read == valid + rejected + duplicates``:

- **valid** rows go to the bronze table;
- **rejected** rows go to the quarantine table. Reason codes: ``type:<col>`` (value present but not
  parsable as the column type), ``not_null:<col>``, ``min:<col>``, ``max:<col>``,
  ``allowed_values:<col>``, ``pattern:<col>``, ``min_length:<col>``, ``max_length:<col>``,
  ``unique:<col>`` (value already used by an earlier row of this input), ``duplicate_key`` (primary
  key already used by an earlier row of this input with *different* values);
- **duplicates** are rows identical, in every contract column, to an earlier row of this input with
  the same primary key. They carry no information, so they are counted and dropped.

The duplicate rule: within one input the first occurrence of a primary key wins. Across inputs the
bronze table keeps every version (with its source pointer) and the dbt staging model takes the
latest one per key. Keys are compared by a 64-bit hash of their typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.exceptions import SchemaMismatchError
from contracts.model import Column, Contract

if TYPE_CHECKING:
    from collections.abc import Sequence

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.large_string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_POLARS_NUMERIC = {"int32": pl.Int32, "int64": pl.Int64, "float64": pl.Float64}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")

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


class _SeenKeys:
    """Set of 64-bit key hashes (with a 64-bit row hash each), kept as sorted runs (an LSM).

    Runs of equal size are merged (so there are at most log2(n / batch) runs), lookups sort the
    probe keys once and ``searchsorted`` each run in order, which keeps memory access sequential.
    A whole input costs O(n log n) time and 16 bytes per distinct key.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found mask, stored row hash or 0) for each key."""
        found = np.zeros(keys.size, dtype=bool)
        rows = np.zeros(keys.size, dtype=np.uint64)
        if not self.runs or keys.size == 0:
            return found, rows
        order = np.argsort(keys)
        probe = keys[order]
        for run_keys, run_rows in self.runs:
            pos = np.minimum(np.searchsorted(run_keys, probe), run_keys.size - 1)
            hit = run_keys[pos] == probe
            found[order[hit]] = True
            rows[order[hit]] = run_rows[pos[hit]]
        return found, rows

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(keys)
        run = (keys[order], rows[order])
        while self.runs and self.runs[-1][0].size <= run[0].size * 2:
            prev = self.runs.pop()
            k = np.concatenate([prev[0], run[0]])
            r = np.concatenate([prev[1], run[1]])
            merged = np.argsort(k, kind="stable")
            run = (k[merged], r[merged])
        self.runs.append(run)


def _parse(col: Column, raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Expression turning a source column into the contract type; unparsable values become null."""
    if dtype != pl.String:
        target = ARROW_TYPES[col.type]
        return raw.cast(pl.from_arrow(pa.array([], type=target)).dtype, strict=False)
    if col.type == "string":
        return raw
    s = raw.str.strip_chars()
    if col.type in _POLARS_NUMERIC:
        out = s.cast(_POLARS_NUMERIC[col.type], strict=False)
        # NaN and infinity are not values a contract can range-check; treat them as type errors.
        return pl.when(out.is_finite()).then(out) if col.type == "float64" else out
    if col.type == "boolean":
        low = s.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    if col.type == "date":
        return s.str.to_date("%Y-%m-%d", strict=False)
    # timestamp: ISO 8601 with an offset or Z, or naive (taken as UTC).
    return pl.coalesce(
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC"),
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
    )


def _rule_failures(col: Column, typed: pl.Expr, raw: pl.Expr) -> list[tuple[str, pl.Expr]]:
    """(reason code, boolean expression true where the rule fails) for one column."""
    name, c = col.name, col.constraints
    present = typed.is_not_null()
    rules: list[tuple[str, pl.Expr]] = [(f"type:{name}", raw.is_not_null() & typed.is_null())]
    if not col.nullable:
        rules.append((f"not_null:{name}", raw.is_null()))
    if c.min is not None:
        lo = pl.lit(c.min).cast(typed_dtype(col)) if col.type in ("date", "timestamp") else c.min
        rules.append((f"min:{name}", present & (typed < lo)))
    if c.max is not None:
        hi = pl.lit(c.max).cast(typed_dtype(col)) if col.type in ("date", "timestamp") else c.max
        rules.append((f"max:{name}", present & (typed > hi)))
    if c.allowed_values is not None:
        allowed = pl.Series(c.allowed_values).cast(typed_dtype(col), strict=False)
        rules.append((f"allowed_values:{name}", present & ~typed.is_in(allowed.implode())))
    if c.pattern is not None:
        rules.append((f"pattern:{name}", present & ~typed.str.contains(c.pattern)))
    if c.min_length is not None:
        rules.append((f"min_length:{name}", present & (typed.str.len_chars() < c.min_length)))
    if c.max_length is not None:
        rules.append((f"max_length:{name}", present & (typed.str.len_chars() > c.max_length)))
    return rules


def typed_dtype(col: Column) -> pl.DataType:
    return pl.from_arrow(pa.array([], type=ARROW_TYPES[col.type])).dtype


class Enforcer:
    """Enforce a contract on the record batches of one input.

    Args:
        contract: the dataset's contract.
        context: the input's manifest id, URI and hash, stamped on every output row.

    >>> import pyarrow as pa
    >>> from contracts.loader import load_contracts
    >>> enf = Enforcer(load_contracts()["orders"], context=InputContext("m", "file:///x", "00", None))
    >>> enf.check_columns(["order_id", "customer_id"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    contracts.exceptions.SchemaMismatchError: ...
    """

    def __init__(self, contract: Contract, *, context: InputContext) -> None:
        self.contract = contract
        self.context = context
        self.counts = EnforceCounts()
        self._rows_seen = 0
        self._pk_seen = _SeenKeys() if contract.primary_key else None
        self._unique_seen = {
            c.name: _SeenKeys()
            for c in contract.columns
            if c.constraints.unique and [c.name] != contract.primary_key
        }
        self._bronze_schema = bronze_schema(contract)
        self._quarantine_schema = quarantine_schema(contract)
        self._extra: list[str] = []

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

    def process(self, batch: pa.RecordBatch) -> EnforcedBatch:
        """Split one batch into valid and rejected rows; update the running counts."""
        if self._rows_seen == 0:
            self.check_columns(batch.schema.names)
        df = pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        n = df.height
        offset = self._rows_seen
        self._rows_seen += n
        df = df.with_columns(pl.int_range(offset + 1, offset + n + 1, dtype=pl.Int64).alias("__row"))
        for c in self.contract.columns:  # absent nullable columns arrive as nulls
            if c.source not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c.source))

        typed_exprs, failures = [], []
        for c in self.contract.columns:
            raw = pl.col(c.source)
            typed = _parse(c, raw, df.schema[c.source])
            typed_exprs.append(typed.alias(f"__t_{c.name}"))
            failures += _rule_failures(c, pl.col(f"__t_{c.name}"), raw)
        df = df.with_columns(typed_exprs)
        codes = [code for code, _ in failures]
        fail_df = df.select([expr.fill_null(False).alias(code) for code, expr in failures])
        bad = fail_df.select(pl.any_horizontal(pl.all())).to_series() if codes else pl.Series([False] * n)

        counts = EnforceCounts(read=n)
        extra_reason = np.full(n, None, dtype=object)
        # Primary key and unique checks only see rows that passed every column rule.
        bad_np = bad.to_numpy().copy()
        dup_np = np.zeros(n, dtype=bool)
        if self._pk_seen is not None:
            dup_np, conflict = self._check_keys(df, bad_np)
            bad_np |= conflict
            extra_reason[conflict] = "duplicate_key"
        for col_name, seen in self._unique_seen.items():
            fresh = ~bad_np & ~dup_np
            values = df.get_column(f"__t_{col_name}")
            keys = values.hash(seed=7).to_numpy()
            first = values.is_first_distinct().to_numpy()
            found, _ = seen.lookup(keys)
            clash = fresh & values.is_not_null().to_numpy() & (found | ~first)
            clash_fresh = fresh & ~clash & values.is_not_null().to_numpy()
            seen.add(keys[clash_fresh], np.zeros(int(clash_fresh.sum()), dtype=np.uint64))
            bad_np |= clash
            extra_reason[clash] = f"unique:{col_name}"

        good_np = ~bad_np & ~dup_np
        counts.valid = int(good_np.sum())
        counts.duplicates = int(dup_np.sum())
        counts.rejected = int(bad_np.sum())
        valid = self._valid_batch(df.filter(pl.Series(good_np)))
        rejected = None
        if counts.rejected:
            rejected = self._rejected_batch(
                df.filter(pl.Series(bad_np)),
                fail_df.filter(pl.Series(bad_np)),
                extra_reason[bad_np].tolist(),
                counts,
            )
        self.counts.add(counts)
        return EnforcedBatch(valid=valid, rejected=rejected, counts=counts)

    def _check_keys(self, df: pl.DataFrame, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (exact-duplicate mask, key-conflict mask) for rows not already bad."""
        assert self._pk_seen is not None
        pk = [pl.col(f"__t_{k}") for k in self.contract.primary_key]
        typed_all = [pl.col(f"__t_{c.name}") for c in self.contract.columns]
        hashes = df.select(
            pl.struct(pk).hash(seed=1).alias("k"), pl.struct(typed_all).hash(seed=2).alias("r")
        )
        good_idx = np.flatnonzero(~bad)
        k = hashes.get_column("k").to_numpy()[good_idx]
        r = hashes.get_column("r").to_numpy()[good_idx]
        # Within the batch: the first row of each key is its representative.
        sub = pl.DataFrame({"k": k, "r": r})
        first = sub.get_column("k").is_first_distinct().to_numpy()
        first_row = sub.select(pl.col("r").first().over("k")).to_series().to_numpy()
        # Across earlier batches: the stored representative wins.
        found, stored = self._pk_seen.lookup(k)
        rep = np.where(found, stored, first_row)
        is_rep = first & ~found
        dup = ~is_rep & (r == rep)
        conflict = ~is_rep & (r != rep)
        self._pk_seen.add(k[is_rep], r[is_rep])
        dup_full = np.zeros(bad.size, dtype=bool)
        conflict_full = np.zeros(bad.size, dtype=bool)
        dup_full[good_idx] = dup
        conflict_full[good_idx] = conflict
        return dup_full, conflict_full

    def _valid_batch(self, df: pl.DataFrame) -> pa.RecordBatch:
        ctx = self.context
        out = df.select(
            [pl.col(f"__t_{c.name}").alias(c.name) for c in self.contract.columns]
            + [
                pl.lit(ctx.manifest_id, dtype=pl.String).alias("_manifest_id"),
                pl.lit(ctx.source_uri, dtype=pl.String).alias("_source_uri"),
                pl.col("__row").alias("_source_row"),
                pl.lit(ctx.ingested_at, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
                pl.lit(self.contract.version, dtype=pl.String).alias("_contract_version"),
            ]
        )
        table = out.to_arrow(compat_level=pl.CompatLevel.oldest())
        return _to_batch(table.cast(self._bronze_schema), self._bronze_schema)

    def _rejected_batch(
        self, df: pl.DataFrame, fails: pl.DataFrame, extras: list[str | None], counts: EnforceCounts
    ) -> pa.RecordBatch:
        ctx = self.context
        reason_lists: list[list[str]] = []
        rows = fails.rows()
        for row, ex in zip(rows, extras, strict=True):
            reasons = [code for code, failed in zip(fails.columns, row, strict=True) if failed]
            if ex:
                reasons.append(ex)
            reason_lists.append(reasons)
            for code in reasons:
                counts.reasons[code] = counts.reasons.get(code, 0) + 1
        originals = df.select([pl.col(c.source).cast(pl.String).alias(c.name) for c in self.contract.columns])
        errors = [
            "; ".join(_explain(code, originals, i) for code in reasons)
            for i, reasons in enumerate(reason_lists)
        ]
        out = originals.with_columns(
            pl.Series("_reasons", reason_lists, dtype=pl.List(pl.String)),
            pl.Series("_errors", errors, dtype=pl.String),
            pl.lit(ctx.manifest_id, dtype=pl.String).alias("_manifest_id"),
            pl.lit(ctx.source_uri, dtype=pl.String).alias("_source_uri"),
            pl.lit(ctx.source_sha256, dtype=pl.String).alias("_source_sha256"),
            df.get_column("__row").alias("_source_row"),
            pl.lit(ctx.ingested_at, dtype=pl.Datetime("us", "UTC")).alias("_quarantined_at"),
            pl.lit(self.contract.version, dtype=pl.String).alias("_contract_version"),
        )
        table = out.to_arrow(compat_level=pl.CompatLevel.oldest())
        return _to_batch(table.cast(self._quarantine_schema), self._quarantine_schema)


def _explain(code: str, originals: pl.DataFrame, i: int) -> str:
    """Human-readable reason, quoting the offending original value."""
    rule, _, col = code.partition(":")
    if not col:
        return "primary key already used in this input by a row with different values"
    value = originals.get_column(col)[i]
    shown = "null" if value is None else repr(value)
    return f"{col}: {shown} fails {rule}"


def _to_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    if table.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=schema)
    return table.combine_chunks().to_batches()[0]
