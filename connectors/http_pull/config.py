"""Configuration of one HTTP pull source: what to request, how to page, how to resume, how to retry.

The config never holds a secret: ``auth.token_env`` is the *name* of an environment variable whose
value is read when a pull runs. :meth:`HttpPullConfig.from_dict` validates everything at once and
raises :class:`~connectors.http_pull.exceptions.HttpPullConfigError` listing every problem as
``field.path: problem``; :func:`load_configs` does the same for a YAML file of sources.

>>> cfg = HttpPullConfig.from_dict({"name": "products_api", "dataset": "products",
...     "url": "http://127.0.0.1:8000/products", "record_path": "data.items",
...     "pagination": {"type": "page_number", "page_size": 20}})
>>> cfg.pagination.type, cfg.max_retries
('page_number', 5)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.http_pull.exceptions import HttpPullConfigError

Format = Literal["json", "ndjson", "csv"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?LW#-]+$")
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
# Headers that carry credentials: they belong in ``auth`` (an env var name), never in the config.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
_NO_CREDENTIALS = (
    "credentials do not belong in the config; set auth.token_env to the name of an "
    "environment variable holding the token"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(v: str | None) -> str | None:
    if v is not None and (not v.strip() or any(not part for part in v.split("."))):
        raise ValueError(f"{v!r} is not a dotted path like 'data.items'")
    return v


class AuthConfig(_Strict):
    """Header ``header: "{scheme} {token}"``; the token is read from ``token_env`` at run time."""

    token_env: str
    header: str = "Authorization"
    scheme: str = "Bearer"

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(
                "must be the NAME of an environment variable (letters, digits, _), not the token"
            )
        return v


class _Paging(_Strict):
    max_pages: int = Field(default=10_000, ge=1)
    """Safety bound: more pages than this is treated as a pagination loop (terminal)."""


class NoPagination(_Paging):
    type: Literal["none"] = "none"


class _Rereadable(_Paging):
    reread_until_stable: bool = False
    """Read the window again, pass after pass, until a pass finds no record the earlier ones missed
    (page numbers and offsets shift when records move during a pull; see the package README)."""
    max_passes: int = Field(default=5, ge=2, le=50)
    """Passes before giving up with a retryable error (the API changes faster than it is read)."""


class PageNumberPagination(_Rereadable):
    type: Literal["page_number"]
    page_param: str = "page"
    start: int = Field(default=1, ge=0)
    size_param: str | None = "page_size"
    page_size: int = Field(default=100, ge=1)


class OffsetPagination(_Rereadable):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    start: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1)


class KeysetPagination(_Paging):
    """Each page asks for the records after the last one received, by ``(cursor, id)``.

    Needs ``incremental`` with ``id_field`` and ``id_param``: the next request sends the last
    record's cursor field as ``incremental.param`` and its id as ``incremental.id_param``, and the
    API returns the records after that position in ``(cursor_field, id_field)`` order.
    """

    type: Literal["keyset"]
    size_param: str | None = "page_size"
    page_size: int = Field(default=100, ge=1)


class CursorPagination(_Paging):
    type: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)

    @field_validator("cursor_path")
    @classmethod
    def _path(cls, v: str) -> str | None:
        return _check_path(v)


class NextLinkPagination(_Paging):
    type: Literal["next_link"]
    next_path: str | None = None
    """Dotted path of the next URL in the body; ``None`` follows the ``Link: rel="next"`` header."""

    @field_validator("next_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return _check_path(v)


Pagination = Annotated[
    NoPagination
    | PageNumberPagination
    | OffsetPagination
    | KeysetPagination
    | CursorPagination
    | NextLinkPagination,
    Field(discriminator="type"),
]


class IncrementalConfig(_Strict):
    """Resume from the largest ``cursor_field`` seen, sent back as the query parameter ``param``.

    With ``id_field``/``id_param`` the position is ``(cursor_field, id_field)`` and the id of the
    last record goes back as ``id_param``: records sharing one timestamp are never skipped, and
    keyset pagination pages by that position.
    """

    cursor_field: str
    param: str
    id_field: str | None = None
    id_param: str | None = None
    initial: str | None = None
    """Cursor used when none has been committed yet (``None``: the first pull reads everything)."""

    @field_validator("cursor_field", "id_field")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return _check_path(v)

    @model_validator(mode="after")
    def _pair(self) -> IncrementalConfig:
        if (self.id_field is None) != (self.id_param is None):
            raise ValueError("id_field and id_param go together: set both or neither")
        return self


class HttpPullConfig(_Strict):
    """One HTTP pull source. Field order is the documented order (see the package README)."""

    name: str
    dataset: str
    url: str
    method: Literal["GET"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    format: Format = "json"
    record_path: str | None = None
    pagination: Pagination = Field(default_factory=NoPagination)
    incremental: IncrementalConfig | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    retry_after_max_s: float = Field(default=300.0, ge=0)
    schedule: str | None = None
    """Cron string for the orchestration layer; this package only validates its shape."""

    @field_validator("name", "dataset")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} must be lower_snake_case (letters, digits, _)")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not allowed; use auth.token_env")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} must be an absolute http:// or https:// URL")
        if parts.fragment:
            raise ValueError("must not contain a #fragment")
        return v

    @field_validator("headers")
    @classmethod
    def _no_credential_headers(cls, v: dict[str, str]) -> dict[str, str]:
        secret = [k for k in v if k.lower() in _SECRET_HEADERS]
        if secret:
            raise ValueError(f"{', '.join(map(repr, secret))}: {_NO_CREDENTIALS}")
        return v

    @field_validator("record_path")
    @classmethod
    def _record_path(cls, v: str | None) -> str | None:
        return _check_path(v)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None or v.strip() in _CRON_MACROS:
            return v
        fields = v.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"{v!r} is not a 5-field cron expression like '*/15 * * * *'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> HttpPullConfig:
        problems = []
        for key in self.headers:
            if self.auth and key.lower() == self.auth.header.lower():
                problems.append(f"headers.{key}: {_NO_CREDENTIALS}")
        body_paths = {
            "record_path": self.record_path,
            "pagination.cursor_path": getattr(self.pagination, "cursor_path", None),
            "pagination.next_path": getattr(self.pagination, "next_path", None),
        }
        for field, value in body_paths.items():
            if value is not None and self.format != "json":
                problems.append(
                    f"{field}: needs format json (a path into a JSON body), not {self.format}"
                )
        problems += self._pagination_problems()
        if self.backoff_base_s > self.backoff_max_s:
            problems.append(
                f"backoff_base_s: {self.backoff_base_s} is greater than "
                f"backoff_max_s ({self.backoff_max_s})"
            )
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def _pagination_problems(self) -> list[str]:
        page, inc = self.pagination, self.incremental
        if isinstance(page, KeysetPagination) and (inc is None or inc.id_field is None):
            return [
                "pagination.type: keyset pages by the position (incremental.cursor_field, "
                "incremental.id_field); set incremental with id_field and id_param"
            ]
        if (
            isinstance(page, PageNumberPagination | OffsetPagination)
            and inc is not None
            and not page.reread_until_stable
        ):
            return [
                f"pagination.type: {page.type} with incremental loses records when the API "
                "changes during a pull (an updated record moves to the end of the order and "
                "shifts a later one past a page boundary; the cursor then moves past it). Use "
                "type: keyset with incremental.id_field and id_param if the API can filter by "
                "(cursor, id); else set pagination.reread_until_stable: true"
            ]
        return []

    def concurrency_warning(self) -> str | None:
        """Why this config may miss records the API changes during a pull, or ``None`` if safe."""
        page = self.pagination
        if self.incremental is not None and isinstance(page, CursorPagination | NextLinkPagination):
            return (
                f"source {self.name!r}: incremental with {page.type} pagination is safe under "
                "concurrent updates only if the API's page tokens or links are keyset positions, "
                "not page numbers or offsets; prefer type: keyset (connectors/http_pull/README.md)"
            )
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HttpPullConfig:
        """Validate ``data`` at once; raise :class:`HttpPullConfigError` naming every bad field."""
        name = str(data.get("name") or "<unnamed>") if isinstance(data, dict) else "<unnamed>"
        if not isinstance(data, dict):
            raise HttpPullConfigError(name, ["(top level): expected a mapping of source fields"])
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = [_problem(e) for e in err.errors()]
        # ``from None`` on purpose: a ValidationError repeats the input values, which may hold a
        # secret someone wrongly put in the config; our message names fields, never values.
        raise HttpPullConfigError(name, problems) from None


def _problem(error: Any) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling against connectors/http_pull/README.md)"
    elif error["type"] == "missing":
        msg = "required field is missing"
    loc = list(error["loc"])
    if len(loc) > 1 and loc[0] == "pagination":
        loc.pop(1)  # pydantic puts the union tag in the path: pagination.page_number.page_size
    path = ".".join(str(p) for p in loc)
    return f"{path}: {msg}" if path else msg


def load_configs(path: str | Path) -> list[HttpPullConfig]:
    """Load a YAML file holding ``sources: [...]`` (or a single source mapping)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise HttpPullConfigError(str(path), [f"cannot read the YAML file: {err}"]) from err
    entries = raw.get("sources", [raw]) if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise HttpPullConfigError(str(path), ["sources: expected a list of source mappings"])
    configs = [HttpPullConfig.from_dict(entry) for entry in entries]
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise HttpPullConfigError(str(path), [f"name: repeated source names {', '.join(dupes)}"])
    return configs
