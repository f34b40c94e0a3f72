"""Configuration of one S3 source: one dataset fed by the objects under one bucket prefix.

Contract: :meth:`S3Config.from_dict` validates everything at once and raises
:class:`~connectors.exceptions.SourceConfigError` naming the field (``csv.delimiter``), the value
and what to do. Unknown keys are errors (a typo must not silently fall back to a default).
Constructing the dataclasses directly validates the same way.

Credentials are never part of the configuration: boto3's default chain supplies them at run time
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` or the
``profile`` field naming a profile, SSO, container or instance role). A config that carries a key
or secret is rejected.

>>> cfg = S3Config.from_dict({"name": "orders_s3", "dataset": "orders", "bucket": "acme-raw",
...                           "prefix": "orders/", "csv": {"delimiter": ";"}})
>>> cfg.csv.delimiter, cfg.format
(';', 'auto')
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from connectors.decode import ReadLimits
from connectors.exceptions import SourceConfigError

if TYPE_CHECKING:
    from connectors.csv.parse import CsvDialect

Format = Literal["auto", "csv", "ndjson", "parquet"]
AddressingStyle = Literal["auto", "path", "virtual"]

# Keys that would put a secret into configuration files; the AWS default chain supplies these.
_SECRET_KEYS = frozenset(
    {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "access_key",
        "access_key_id",
        "secret_key",
        "secret_access_key",
        "session_token",
        "credentials",
        "password",
    }
)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def _fail(source: str, path: str, problem: str) -> SourceConfigError:
    return SourceConfigError(f"S3 source {source!r}: field {path!r}: {problem}")


@dataclass(frozen=True)
class CsvOptions:
    """How CSV objects are parsed. Every column is read as text (``string``), verbatim.

    Attributes:
        delimiter: one character separating fields.
        quote: the quote character, or ``None`` when fields are never quoted.
        escape: an escape character inside quoted fields, or ``None`` (quotes are doubled).
        null_values: exact cell texts that mean null (``[""]``: empty cells, quoted or not; ``[]``:
            none). The reader keeps them as text and names them in the batch metadata; enforcement
            stores them as null in bronze and as their text in quarantine.
        header: the first row holds column names. Without a header, ``column_names`` names the
            columns, else they are ``f0``, ``f1``, ...
        column_names: names for a header-less file.
        encoding: a Python codec name; non-UTF-8 input is transcoded to UTF-8 while streaming.
        newlines_in_values: quoted cells may contain line breaks (slower parsing when true).
    """

    delimiter: str = ","
    quote: str | None = '"'
    escape: str | None = None
    null_values: tuple[str, ...] = ("",)
    header: bool = True
    column_names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    newlines_in_values: bool = True

    def dialect(self) -> CsvDialect:
        """These options as the dialect the CSV parser takes."""
        from connectors.csv.parse import CsvDialect

        return CsvDialect(
            delimiter=self.delimiter,
            quote=self.quote,
            escape=self.escape,
            null_values=tuple(self.null_values),
            header=self.header,
            column_names=self.column_names,
            encoding=self.encoding,
            newlines_in_values=self.newlines_in_values,
        )

    def validate(self, source: str) -> None:
        for name in ("delimiter", "quote", "escape"):
            value = getattr(self, name)
            if value is None and name != "delimiter":
                continue
            if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
                raise _fail(
                    source, f"csv.{name}", f"must be one character (not a newline), got {value!r}"
                )
        if self.quote is not None and self.quote == self.delimiter:
            raise _fail(source, "csv.quote", "must differ from csv.delimiter")
        if not all(isinstance(v, str) for v in self.null_values):
            raise _fail(
                source, "csv.null_values", f"must be a list of strings, got {self.null_values!r}"
            )
        if self.column_names is not None:
            names = self.column_names
            if not names or not all(isinstance(n, str) and n for n in names):
                raise _fail(
                    source, "csv.column_names", "must be a non-empty list of non-empty names"
                )
            if len(set(names)) != len(names):
                raise _fail(source, "csv.column_names", f"names must be unique, got {list(names)}")
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError) as err:
            raise _fail(source, "csv.encoding", f"unknown codec {self.encoding!r}") from err


@dataclass(frozen=True)
class S3Config:
    """One S3 source: ``s3://bucket/prefix`` feeds ``dataset``.

    Attributes:
        name: the source's name (appears in every error and in manifests).
        dataset: the dataset (contract) these objects feed.
        bucket: the bucket name.
        prefix: the key prefix that maps to the dataset (``""`` is the whole bucket).
        endpoint_url: an S3-compatible endpoint (MinIO, R2, Ceph, moto); ``None`` for AWS.
        region: the signing region.
        format: ``auto`` picks by extension (``.csv``, ``.tsv``, ``.ndjson``/``.jsonl``/``.json``,
            ``.parquet``/``.pq``, each optionally ``.gz``).
        csv: CSV parsing options.
        profile: an AWS profile name for the default credential chain (not a secret).
        addressing_style: ``path`` for most S3-compatible stores, ``auto``/``virtual`` for AWS.
        versioned: list object versions (``True``), plain listing (``False``) or ask the bucket
            (``None``).
        connect_timeout, read_timeout: seconds, per HTTP attempt.
        max_attempts: total attempts per request, first included (botocore ``standard`` retries).
        limits: caps on decoding and row size (:class:`connectors.decode.ReadLimits`).
    """

    name: str
    dataset: str
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    format: Format = "auto"
    csv: CsvOptions = field(default_factory=CsvOptions)
    profile: str | None = None
    addressing_style: AddressingStyle = "auto"
    versioned: bool | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 4
    limits: ReadLimits = field(default_factory=ReadLimits)

    def __post_init__(self) -> None:
        src = self.name if isinstance(self.name, str) and self.name else "<unnamed>"
        for key in ("name", "dataset", "bucket", "region"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise _fail(src, key, f"must be a non-empty string, got {value!r}")
        if not _BUCKET_RE.match(self.bucket) or ".." in self.bucket:
            raise _fail(
                src,
                "bucket",
                f"{self.bucket!r} is not a valid bucket name (3-63 chars a-z 0-9 . -)",
            )
        if not isinstance(self.prefix, str) or self.prefix.startswith("/"):
            raise _fail(
                src, "prefix", f"must be a key prefix without a leading '/', got {self.prefix!r}"
            )
        if self.endpoint_url is not None and not (
            isinstance(self.endpoint_url, str)
            and re.match(r"^https?://[^/\s]+(/.*)?$", self.endpoint_url)
        ):
            raise _fail(
                src, "endpoint_url", f"must be an http(s):// URL, got {self.endpoint_url!r}"
            )
        _check_choice(src, "format", self.format, Format)
        _check_choice(src, "addressing_style", self.addressing_style, AddressingStyle)
        if self.versioned is not None and not isinstance(self.versioned, bool):
            raise _fail(src, "versioned", f"must be true, false or null, got {self.versioned!r}")
        for key in ("connect_timeout", "read_timeout"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value <= 3600
            ):
                raise _fail(src, key, f"must be seconds in (0, 3600], got {value!r}")
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
            raise _fail(src, "max_attempts", f"must be an integer in [1, 20], got {attempts!r}")
        if not isinstance(self.csv, CsvOptions):
            raise _fail(src, "csv", "must be a CsvOptions (use S3Config.from_dict for mappings)")
        self.csv.validate(src)
        if not isinstance(self.limits, ReadLimits):
            raise _fail(src, "limits", "must be a ReadLimits (use S3Config.from_dict for mappings)")

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix``: where this source's objects live."""
        return f"s3://{self.bucket}/{self.prefix}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Config:
        """Build and validate a config from a mapping (a YAML entry); raises SourceConfigError."""
        if not isinstance(data, Mapping):
            raise SourceConfigError(
                f"S3 source config must be a mapping, got {type(data).__name__}"
            )
        src = str(data.get("name") or "<unnamed>")
        _reject_secrets(src, "", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail(src, unknown[0], f"unknown option; expected one of {sorted(known)}")
        for required in ("name", "dataset", "bucket"):
            if required not in data:
                raise _fail(src, required, "is required")
        kwargs = dict(data)
        csv = kwargs.pop("csv", None) or {}
        if not isinstance(csv, Mapping):
            raise _fail(src, "csv", f"must be a mapping, got {type(csv).__name__}")
        _reject_secrets(src, "csv.", csv)
        csv_known = {f.name for f in fields(CsvOptions)}
        csv_unknown = sorted(set(csv) - csv_known)
        if csv_unknown:
            raise _fail(
                src, f"csv.{csv_unknown[0]}", f"unknown option; expected one of {sorted(csv_known)}"
            )
        csv_kwargs = dict(csv)
        for key in ("null_values", "column_names"):
            value = csv_kwargs.get(key)
            if isinstance(value, str):
                raise _fail(src, f"csv.{key}", f"must be a list of strings, got {value!r}")
            if isinstance(value, list | tuple):
                csv_kwargs[key] = tuple(value)
        kwargs["limits"] = ReadLimits.from_dict(kwargs.get("limits"), source=src)
        try:
            return cls(**kwargs, csv=CsvOptions(**csv_kwargs))
        except TypeError as err:  # a wrong value type that dataclass construction itself rejects
            raise SourceConfigError(f"S3 source {src!r}: {err}") from err


def _check_choice(source: str, key: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise _fail(source, key, f"must be one of {list(allowed)}, got {value!r}")


def _reject_secrets(source: str, path: str, data: Mapping[str, Any]) -> None:
    for key in data:
        if str(key).lower() in _SECRET_KEYS:
            raise _fail(
                source,
                f"{path}{key}",
                "credentials are never read from configuration; provide them through the AWS "
                "default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or 'profile', "
                "or an instance/container role)",
            )
