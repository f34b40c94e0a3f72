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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from contracts.model import Column, Contract
from contracts.schemas import typed_dtype

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
class Plan:
    """Per source schema: how each contract column is parsed and checked (built once)."""

    parsed: list[Column]  # text parsed to a non-string type (fast parse, then fallback)
    cast: list[Column]  # typed source cast to the contract type
    text: list[Column]  # text kept as text
    absent: list[Column]  # nullable columns the source does not have
    rules: list[tuple[str, pl.Expr]] = field(default_factory=list)


def typed_name(col: Column) -> str:
    """Name of the column that holds ``col`` in its contract type, next to the source columns."""
    return f"__t_{col.name}"


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


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
        """The plan for batches of ``schema`` (built on first use, then cached)."""
        key = tuple((f.name, f.type) for f in schema)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        plan = Plan(parsed=[], cast=[], text=[], absent=[])
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
            plan.rules += _rule_failures(c, pl.col(typed_name(c)), pl.col(c.source), parsed)
        self._plans[key] = plan
        return plan

    def parse(self, batch: pa.RecordBatch, plan: Plan) -> pl.DataFrame:
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
            _fast_parse(c, pl.col(c.source), self._ts_formats.get(c.name)).alias(typed_name(c))
            for c in plan.parsed
        ]
        exprs += [pl.col(c.source).cast(typed_dtype(c), strict=False).alias(typed_name(c)) for c in plan.cast]
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
        return df
