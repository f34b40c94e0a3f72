"""Configuration of CSV parsing and of a CSV source (paths and globs)."""

from __future__ import annotations

import codecs
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.csv.parse import CsvDialect
from connectors.decode import ReadLimits
from connectors.exceptions import SourceConfigError


class CsvOptions(BaseModel):
    """How to parse a CSV file. Defaults fit RFC 4180 files in UTF-8 with a header row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = ","
    quote_char: str | None = '"'
    escape_char: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    column_names: list[str] | None = None
    """Names for header-less files (``header: false``); defaults to the contract's column order."""
    null_values: list[str] = Field(default_factory=lambda: [""])
    newlines_in_values: bool = False
    skip_rows: int = 0

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if v == "\\t":
            v = "\t"
        if len(v) != 1:
            raise ValueError(f"delimiter must be one character, got {v!r}")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError as err:
            raise ValueError(f"unknown encoding {v!r}") from err
        return v

    def dialect(self) -> CsvDialect:
        """These options as the dialect the CSV parser takes."""
        return CsvDialect(
            delimiter=self.delimiter,
            quote=self.quote_char,
            escape=self.escape_char,
            null_values=tuple(self.null_values),
            header=self.header,
            column_names=tuple(self.column_names) if self.column_names else None,
            encoding=self.encoding,
            newlines_in_values=self.newlines_in_values,
            skip_rows=self.skip_rows,
        )


def limits_field(value: Any, info: Any) -> ReadLimits:
    """Pydantic ``before`` validator of a ``limits:`` mapping (see :class:`ReadLimits`)."""
    return ReadLimits.from_dict(value, source=str(info.data.get("name", "?")))


class CsvSourceConfig(BaseModel):
    """A CSV source: files matching ``paths`` (globs allowed), relative to ``base_dir``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str
    paths: list[str] = Field(min_length=1)
    options: CsvOptions = Field(default_factory=CsvOptions)
    limits: ReadLimits = Field(default_factory=ReadLimits)
    """Caps on decoding and row size (:class:`connectors.decode.ReadLimits`)."""

    _limits = field_validator("limits", mode="before")(limits_field)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CsvSourceConfig:
        try:
            return cls.model_validate(raw)
        except SourceConfigError:
            raise
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
            )
            raise SourceConfigError(f"csv source {raw.get('name', '?')!r}: {problems}") from err
