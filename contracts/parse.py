"""Parsing one input's record batches into contract types, and the per-row rules that check them.

A :class:`Parser` is created per input. For each source schema it builds a :class:`Plan` once: how
each contract column is obtained (text parsed to a type, a typed source cast, text kept as text, or
absent) and the boolean expression of every column rule (reason code ``type:``, ``not_null:``,
``min:``, ``max:``, ``allowed_values:``, ``pattern:``, ``min_length:``, ``max_length:``).
:meth:`Parser.parse` returns the source columns plus one typed column per contract column, named
by :func:`typed_name`; a value that does not parse becomes null there.

Contract: the outcome is the full parsing rule's (:func:`_full_parse`). Fast paths only save time:
values are first parsed as-is with a cheaper expression that accepts a subset of the full rule's
values with equal results (for a timestamp column, the primary format picked by the column's first
non-null value), and only the values it leaves null are parsed again with the full rule.

- **Null tokens.** A text reader that keeps null tokens (``NA``) as text names them in the batch
  schema's metadata (:data:`~contracts.schemas.NULL_VALUES_KEY`, a JSON list of strings). Such a
  value is null for parsing, ``not_null`` and bronze; the source batch, from which quarantine takes
  the original text, is left as it is. Without the key nothing is a token.
- **Dates and timestamps** hold years 0001-9999 only (:data:`~contracts.model.DATE_RANGE`): a value
  that parses but falls outside (``-0001-01-01``, ``10000-01-01``, an offset that carries
  ``9999-12-31T23:59:59-01:00`` into year 10000) is a type error like an int32 overflow. A leap
  second (``23:59:60``) is read as the next second, as Unix time (and ``timegm``) count it.
- **Typed sources** are converted by :mod:`contracts.typed_sources`: a float or decimal for an
  integer column must be whole, a number for a boolean column 0 or 1, a float finite; a column
  whose Arrow type cannot hold the contract type rejects the input
  (:class:`~contracts.exceptions.SchemaMismatchError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.exceptions import SchemaMismatchError
from contracts.model import DATE_RANGE, TIMESTAMP_RANGE, Column, Contract
from contracts.schemas import NULL_VALUES_KEY, typed_dtype
from contracts.typed_sources import Kind, fits, source_kind, stored_integers, temporal_text, temporal_to

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


def _full_parse(col: Column, raw: pl.Expr) -> pl.Expr:
    """The contract's parsing rule for text: unparsable values become null."""
    s = raw.str.strip_chars()
    if col.type in ("int32", "int64", "float64"):
        out = s.cast(typed_dtype(col), strict=False)
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
        out = raw.cast(typed_dtype(col), strict=False)
        return pl.when(out.is_finite()).then(out) if col.type == "float64" else out
    if col.type == "boolean":
        return pl.when(raw.is_in(_TRUE_FAST)).then(True).when(raw.is_in(_FALSE_FAST)).then(False)
    if col.type == "date":
        return raw.str.to_date("%Y-%m-%d", strict=False, cache=False)
    if ts_format is None:
        return _full_parse(col, raw)
    return _ts(raw, *ts_format)


_TS_COLUMN = Column(name="x", type="timestamp")


def _primary_ts_format(sample: str) -> tuple[str, bool] | None:
    """The cheapest format that parses ``sample`` exactly as the full rule does."""
    s = pl.Series([sample])
    # Compared as stored integers: a year outside 1-9999 has no Python datetime.
    want = pl.select(_full_parse(_TS_COLUMN, pl.lit(s)).to_physical()).item()
    if want is None:
        return None
    for fmt, aware in _TS_FAST_FORMATS + _TS_FORMATS:
        if pl.select(_ts(pl.lit(s), fmt, aware).to_physical()).item() == want:
            return fmt, aware
    return None


def _in_range(col: Column, typed: pl.Expr) -> pl.Expr:
    """``typed`` where it is a date or timestamp of years 0001-9999, else null."""
    lo, hi = DATE_RANGE if col.type == "date" else TIMESTAMP_RANGE
    return pl.when(typed.to_physical().is_between(lo, hi)).then(typed)


def _cast(col: Column, raw: pl.Expr, kind: Kind, dtype: pl.DataType) -> pl.Expr:
    """A typed (non-temporal) source value in the contract type; null where it does not fit."""
    if col.type in ("int32", "int64"):
        out = raw.cast(typed_dtype(col), strict=False)
        if dtype.is_float() or dtype.is_decimal():  # 1.5 must not become 1
            return pl.when(out.cast(dtype, strict=False) == raw).then(out)
        return out
    if col.type == "float64":
        out = raw.cast(pl.Float64, strict=False)
        return pl.when(out.is_finite()).then(out)
    if col.type == "boolean" and kind == "numeric":  # as for text: 1 and 0 only
        return pl.when(raw == 1).then(True).when(raw == 0).then(False)
    return raw.cast(typed_dtype(col), strict=False)


def null_values(schema: pa.Schema) -> tuple[str, ...]:
    """The null tokens a reader named in ``schema``'s metadata (none without the key)."""
    raw = (schema.metadata or {}).get(NULL_VALUES_KEY)
    if raw is None:
        return ()
    try:
        tokens = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise SchemaMismatchError(f"schema metadata {NULL_VALUES_KEY.decode()} is not JSON: {err}") from err
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise SchemaMismatchError(
            f"schema metadata {NULL_VALUES_KEY.decode()} must be a JSON list of strings, not {raw[:100]!r}"
        )
    return tuple(dict.fromkeys(tokens))


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
    temporal = col.type in ("date", "timestamp")
    if c.min is not None:
        lo = pl.lit(int(c.min), dtype=pl.Int64).cast(dtype) if temporal else c.min
        rules.append((f"min:{name}", present & (typed < lo)))
    if c.max is not None:
        hi = pl.lit(int(c.max), dtype=pl.Int64).cast(dtype) if temporal else c.max
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
class Plan:
    """Per source schema: how each contract column is parsed and checked (built once)."""

    parsed: list[Column]  # text parsed to a non-string type (fast parse, then fallback)
    cast: list[Column]  # typed source cast to the contract type
    text: list[Column]  # text kept as text
    absent: list[Column]  # nullable columns the source does not have
    rules: list[tuple[str, pl.Expr]] = field(default_factory=list)
    null_values: tuple[str, ...] = ()  # text that means null (from the schema's metadata)
    kinds: dict[str, Kind] = field(default_factory=dict)  # source column -> kind of its values


def typed_name(col: Column) -> str:
    """Name of the column that holds ``col`` in its contract type, next to the source columns."""
    return f"__t_{col.name}"


def _shown_type(t: pa.DataType) -> str:
    text = str(t)
    return text if len(text) <= 120 else text[:119] + "…"


class Parser:
    """Parses the record batches of one input (one per input: it keeps each column's timestamp format).

    Args:
        contract: the dataset's contract.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._plans: dict[tuple[tuple[str, pa.DataType], ...], Plan] = {}
        self._ts_formats: dict[str, tuple[str, bool]] = {}

    def plan(self, schema: pa.Schema) -> Plan:
        """The plan for batches of ``schema`` (built on first use, then cached).

        Raises :class:`SchemaMismatchError` when a source column's type cannot hold its contract
        type, or the null-token metadata is malformed. The source columns must be unique.
        """
        tokens = null_values(schema)
        key = (tuple((f.name, f.type) for f in schema), tokens)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        plan = Plan(parsed=[], cast=[], text=[], absent=[], null_values=tokens)
        names = set(schema.names)
        problems = []
        for c in self.contract.columns:
            if c.source not in names:
                plan.absent.append(c)
                continue
            t = schema.field(c.source).type
            kind = source_kind(t)
            if kind is None or not fits(c.type, t):
                problems.append(
                    f"column {c.source!r} holds {_shown_type(t)}, which cannot be read as {c.type}"
                )
                continue
            plan.kinds[c.source] = kind
            if kind != "text":
                plan.cast.append(c)
            elif c.type == "string":
                plan.text.append(c)
            else:
                plan.parsed.append(c)
        if problems:
            raise SchemaMismatchError("; ".join(problems))
        for c in self.contract.columns:
            parsed = c in plan.parsed or (c in plan.cast and c.type != "string")
            plan.rules += _rule_failures(c, pl.col(typed_name(c)), pl.col(c.source), parsed)
        self._plans[key] = plan
        return plan

    def parse(self, batch: pa.RecordBatch, plan: Plan) -> pl.DataFrame:
        """Source columns plus one ``__t_<name>`` column per contract column, in contract types.

        A null token is null in both (the source column here is a copy: ``batch`` keeps it).
        """
        names = list(dict.fromkeys(c.source for c in plan.parsed + plan.cast + plan.text))
        arrays, converted = [], []
        for name in names:
            arr = batch.column(name)
            if plan.kinds[name] == "temporal":
                # Converted in numpy (see contracts.typed_sources); polars gets the stored
                # integers, whose nulls are the source's, for the row rules.
                for c in plan.cast:
                    if c.source == name:
                        typed = temporal_text(arr) if c.type == "string" else temporal_to(arr, c.type)
                        converted.append(pl.Series(typed_name(c), typed))
                arr = stored_integers(arr)
            arrays.append(arr)
        if names:
            df = pl.from_arrow(pa.RecordBatch.from_arrays(arrays, names=names))
        else:  # no contract column in this batch: still one row per input row
            df = pl.DataFrame({"__t_": np.zeros(batch.num_rows, dtype=np.int8)})
        assert isinstance(df, pl.DataFrame)
        if plan.null_values:
            tokens = pl.Series(plan.null_values, dtype=pl.String).implode()
            df = df.with_columns(
                pl.when(pl.col(n).is_in(tokens)).then(None).otherwise(pl.col(n)).alias(n)
                for n in dict.fromkeys(c.source for c in plan.parsed + plan.text)
            )
        for c in plan.parsed:
            if c.type == "timestamp" and c.name not in self._ts_formats:
                sample = df.get_column(c.source).drop_nulls().head(1).str.strip_chars()
                if sample.len() and (fmt := _primary_ts_format(sample[0])) is not None:
                    self._ts_formats[c.name] = fmt
        exprs = [
            _fast_parse(c, pl.col(c.source), self._ts_formats.get(c.name)).alias(typed_name(c))
            for c in plan.parsed
        ]
        exprs += [
            _cast(c, pl.col(c.source), plan.kinds[c.source], df.schema[c.source]).alias(typed_name(c))
            for c in plan.cast
            if plan.kinds[c.source] != "temporal"
        ]
        exprs += converted
        exprs += [pl.col(c.source).alias(typed_name(c)) for c in plan.text]
        exprs += [pl.lit(None, dtype=pl.String).alias(c.source) for c in plan.absent]
        exprs += [pl.lit(None, dtype=typed_dtype(c)).alias(typed_name(c)) for c in plan.absent]
        df = df.with_columns(exprs)
        # Values the fast parse could not read get the full rule (usually few or none).
        for c in plan.parsed:
            t = df.get_column(typed_name(c))
            if t.null_count() == df.get_column(c.source).null_count():
                continue
            retry = np.flatnonzero((t.is_null() & df.get_column(c.source).is_not_null()).to_numpy())
            again = df.select(pl.col(c.source).gather(retry)).select(_full_parse(c, pl.col(c.source)))
            df = df.with_columns(t.scatter(retry, again.to_series()))
        ranged = [c for c in plan.parsed if c.type in ("date", "timestamp")]
        if ranged:
            df = df.with_columns(_in_range(c, pl.col(typed_name(c))).alias(typed_name(c)) for c in ranged)
        return df
