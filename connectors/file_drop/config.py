"""Configuration of a file-drop source."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.csv.config import CsvOptions
from connectors.exceptions import SourceConfigError

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".uploading")


class FileDropConfig(BaseModel):
    """A watched folder: files dropped into ``folder`` feed ``dataset``.

    A file is *complete* (picked up) when its name has no temporary suffix (``.part``, ``.tmp``
    ...; writers that can should write ``x.csv.part`` and rename to ``x.csv`` when done) and it
    has not been modified for ``settle_seconds`` (for writers that cannot rename).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str
    folder: str
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.csv.gz"])
    settle_seconds: float = Field(default=2.0, ge=0)
    options: CsvOptions = Field(default_factory=CsvOptions)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FileDropConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
            raise SourceConfigError(f"file_drop source {raw.get('name', '?')!r}: {problems}") from err
