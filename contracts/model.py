"""The data contract model: one YAML file per dataset is the single source of truth.

A contract states a dataset's columns (type, nullability, classification, constraints), primary
key, evolution rule, freshness SLO, retention tier and purpose tags. It is loaded and validated by
:mod:`contracts.loader`; enforcement (:mod:`contracts.enforce`), the Great Expectations and dbt
compilers and the policies all read this model. See ``contracts/README.md`` for the format.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.patterns import pattern_problems

ColumnType = Literal["string", "int32", "int64", "float64", "boolean", "date", "timestamp"]
Classification = Literal["public", "internal", "confidential", "pii", "sensitive_pii"]
RetentionTier = Literal["ephemeral", "short", "standard", "long", "legal_hold"]
EvolutionRule = Literal["additive", "frozen"]
ExtraColumns = Literal["reject", "drop"]

# Matched with fullmatch: ``$`` alone would accept a trailing newline ("orders\n").
_DURATION = re.compile(r"(\d+)\s*(s|m|h|d)")
_SEMVER = re.compile(r"\d+\.\d+\.\d+")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
# Source column names the platform itself uses: the readers' reserved columns
# (connectors/base.py) and the parsed copies enforcement puts beside the source columns.
RESERVED_SOURCE_PREFIXES = ("_maestro_", "__t_")
# What a date or timestamp column can hold: years 0001-9999, as in the Delta protocol, Parquet
# readers and Python's datetime. Bounds in the contract's units: days, resp. microseconds, since
# 1970-01-01 UTC.
DATE_RANGE = (-719_162, 2_932_896)  # 0001-01-01 .. 9999-12-31
TIMESTAMP_RANGE = (-62_135_596_800_000_000, 253_402_300_799_999_999)  # .. 9999-12-31T23:59:59.999999Z


def parse_duration(text: str) -> timedelta:
    """Parse ``30m``, ``6h``, ``1d`` style durations.

    >>> parse_duration("6h")
    datetime.timedelta(seconds=21600)
    """
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration like '30m', '6h' or '1d'")
    n, unit = int(m.group(1)), m.group(2)
    try:
        return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})
    except OverflowError as err:
        raise ValueError(f"{text!r} is too long a duration (at most 999999999 days)") from err


def temporal_bound(column_type: str, value: float) -> date | datetime:
    """A ``min``/``max`` of a date (days since 1970-01-01) or timestamp (microseconds since
    1970-01-01 UTC) column as the date or UTC datetime it stands for.

    >>> temporal_bound("date", 19723)
    datetime.date(2024, 1, 1)
    """
    if column_type == "date":
        return date(1970, 1, 1) + timedelta(days=int(value))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constraints(_Strict):
    # int before float: integer bounds stay exact (timestamp bounds are microseconds, beyond 2^53).
    min: int | float | None = None
    max: int | float | None = None
    allowed_values: list[str] | None = None
    pattern: str | None = None
    unique: bool = False
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _not_a_boolean(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"a bound is a number, not {v!r}")
        return v

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, v: int | float | None) -> int | float | None:
        # NaN compares false with everything and infinities are no bound: every run would fail.
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"a bound must be a finite number, not {v!r}")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern_runs_everywhere(cls, v: str | None) -> str | None:
        if v is not None:
            problems = pattern_problems(v)
            if problems:
                raise ValueError(
                    f"pattern {v!r} is not a valid regular expression for every engine that runs it: "
                    + "; ".join(problems)
                )
        return v

    @model_validator(mode="after")
    def _range_ordered(self) -> Constraints:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is greater than max_length ({self.max_length})")
        return self


class Column(_Strict):
    name: str
    type: ColumnType
    nullable: bool = True
    description: str = ""
    classification: Classification = "internal"
    constraints: Constraints = Field(default_factory=Constraints)
    source_name: str | None = None
    """Header name in the source when it differs from ``name``."""

    @field_validator("name")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not _IDENT.fullmatch(v):
            raise ValueError(f"column name {v!r} must be lower_snake_case (letters, digits, _)")
        return v

    @field_validator("source_name")
    @classmethod
    def _not_reserved(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(RESERVED_SOURCE_PREFIXES):
            raise ValueError(
                f"source_name {v!r} starts with a reserved prefix "
                f"({', '.join(RESERVED_SOURCE_PREFIXES)}): those columns belong to the platform"
            )
        return v

    @model_validator(mode="after")
    def _constraints_fit_type(self) -> Column:
        c = self.constraints
        numeric = self.type in ("int32", "int64", "float64")
        if (
            (c.min is not None or c.max is not None)
            and not numeric
            and self.type not in ("date", "timestamp")
        ):
            raise ValueError(f"min/max constraints need a numeric, date or timestamp type, not {self.type}")
        if (c.pattern or c.min_length is not None or c.max_length is not None) and self.type != "string":
            raise ValueError(f"pattern/length constraints need type string, not {self.type}")
        if self.type in ("date", "timestamp"):
            lo, hi = DATE_RANGE if self.type == "date" else TIMESTAMP_RANGE
            unit = "days" if self.type == "date" else "microseconds"
            for label, bound in (("min", c.min), ("max", c.max)):
                if bound is None:
                    continue
                if not float(bound).is_integer() or not lo <= bound <= hi:
                    raise ValueError(
                        f"constraints.{label} of a {self.type} column is a whole number of {unit} since "
                        f"1970-01-01 UTC between {lo} and {hi} (years 0001-9999), not {bound!r}"
                    )
        return self

    @property
    def source(self) -> str:
        return self.source_name or self.name


class Freshness(_Strict):
    max_lag: str = "24h"
    warn_after: str | None = None

    @field_validator("max_lag", "warn_after")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


class Contract(_Strict):
    """A dataset's contract. Field order here is the documented order of the YAML file."""

    name: str
    version: str
    owner: str
    description: str
    columns: Annotated[list[Column], Field(min_length=1)]
    primary_key: list[str] = Field(default_factory=list)
    evolution: EvolutionRule = "additive"
    extra_columns: ExtraColumns = "reject"
    freshness: Freshness = Field(default_factory=Freshness)
    completeness_min: float = Field(default=0.95, ge=0, le=1)
    retention_tier: RetentionTier = "standard"
    purpose_tags: list[str] = Field(default_factory=list)
    residency: list[str] = Field(default_factory=list)
    licence: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _IDENT.fullmatch(v):
            raise ValueError(f"dataset name {v!r} must be lower_snake_case")
        return v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not _SEMVER.fullmatch(v):
            raise ValueError(f"version {v!r} must be MAJOR.MINOR.PATCH, e.g. 1.0.0")
        return v

    @model_validator(mode="after")
    def _keys_exist(self) -> Contract:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names repeated: {', '.join(dupes)}")
        for key in self.primary_key:
            if key not in names:
                raise ValueError(f"primary_key names {key!r}, which is not a column")
            if self.column(key).nullable:
                raise ValueError(f"primary_key column {key!r} must be nullable: false")
        return self

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def freshness_max_lag(self) -> timedelta:
        return parse_duration(self.freshness.max_lag)

    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.classification in ("pii", "sensitive_pii")]
