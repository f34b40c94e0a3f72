"""Configuration of a file-drop source."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.csv.config import CsvOptions, limits_field
from connectors.decode import ReadLimits
from connectors.exceptions import SourceConfigError

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".uploading")


class FileDropConfig(BaseModel):
    """A watched folder: files dropped into ``folder`` feed ``dataset``.

    A file is *complete* (picked up) when its name matches one of ``patterns`` (ignoring case:
    ``X.CSV`` matches ``*.csv``), has no temporary suffix (``.part``, ``.tmp`` ...; writers that can
    should write ``x.csv.part`` and rename to ``x.csv`` when done) and has not been modified for
    ``settle_seconds`` (for writers that cannot rename). A file that still changes while it is read
    is not committed: it goes back into the folder and is read again once it is complete.

    ``rerequest_after_seconds``: a file still in the folder that long after its run was requested
    (the run never started, died, or failed and put it back) is requested again, with a backoff
    doubling per attempt up to an hour, never while a run for it is queued or running.
    ``stale_claim_seconds``: only for claims whose owner cannot be checked (a filesystem without
    ``flock`` on another host, claims made by older versions): their age that counts as dead.

    Files are CSV, gzip-compressed CSV, or zip archives whose file members are CSV (gzip is
    streamed, never inflated to disk; each zip member is its own input). ``limits`` caps decoding
    and row size (:class:`connectors.decode.ReadLimits`: decoded bytes, expansion ratio, line
    length, columns, archive members).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str
    folder: str
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.csv.gz", "*.zip"])
    settle_seconds: float = Field(default=2.0, ge=0)
    rerequest_after_seconds: float = Field(default=30.0, gt=0)
    stale_claim_seconds: float = Field(default=900.0, gt=0)
    options: CsvOptions = Field(default_factory=CsvOptions)
    limits: ReadLimits = Field(default_factory=ReadLimits)

    _limits = field_validator("limits", mode="before")(limits_field)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FileDropConfig:
        try:
            return cls.model_validate(raw)
        except SourceConfigError:
            raise
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
            raise SourceConfigError(f"file_drop source {raw.get('name', '?')!r}: {problems}") from err
