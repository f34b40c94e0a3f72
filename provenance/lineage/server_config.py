"""Configuration of the lineage HTTP endpoint, validated at once.

:meth:`LineageServerConfig.from_dict` checks every field when the config is built and raises
:class:`~provenance.lineage.exceptions.LineageConfigError` naming the field, so a bad config
fails at start-up. Relative paths are resolved against ``base_dir`` (the YAML file's folder with
:meth:`LineageServerConfig.from_yaml`). ``ledger_dir`` may also be ``s3://bucket/prefix`` (kept a
string), with ``endpoint_url`` for an S3-compatible store other than the AWS default chain's
(which honours ``AWS_ENDPOINT_URL``). Example::

    ledger_dir: /var/lib/maestro/ledger                 # or s3://bucket/lake/_ledger
    spec_dir: /opt/maestro/shared/openlineage-spec     # optional; default <repo>/../shared/...
    issuer: https://idp.example.com
    audience: maestro-lineage
    jwks_url: https://idp.example.com/.well-known/jwks.json   # or jwks_file / public_key_pems
    algorithms: [RS256, ES256, EdDSA]
    max_body_bytes: 4194304
    max_token_lifetime_s: 3600                         # exp - iat (or exp - now) at most this
    server: {max_header_bytes: 32768, header_timeout_s: 10, max_connections: 1000}

Bearer tokens are verified exactly as for the push endpoint (``connectors.http_push.auth``): an
asymmetric signature by a configured key, ``exp``/``nbf``/``iat`` (finite whole seconds, a
lifetime of at most ``max_token_lifetime_s``), ``iss``, ``aud`` and ``sub``. ``server`` holds the
connection limits both servers share (:class:`~connectors.http_push.serving.ServerLimits`).
Writing needs scope ``lineage:write``, querying ``lineage:read``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.http_push.config import read_pems
from connectors.http_push.serving import ServerLimits
from provenance.exceptions import LedgerConfigError
from provenance.lineage.exceptions import LineageConfigError
from provenance.lineage.location import ledger_location
from provenance.lineage.settings import DEFAULT_SPEC_DIR

__all__ = ["READ_SCOPE", "WRITE_SCOPE", "LineageServerConfig"]

WRITE_SCOPE = "lineage:write"
READ_SCOPE = "lineage:read"
_HMAC_OR_NONE = ("none", "hs")


def _fail(name: str, problem: str) -> LineageConfigError:
    return LineageConfigError(f"lineage server config field '{name}': {problem}")


@dataclass(frozen=True)
class LineageServerConfig:
    ledger_dir: Path | str
    issuer: str
    audience: str
    key_dir: Path | None = None
    endpoint_url: str | None = None
    spec_dir: Path | None = DEFAULT_SPEC_DIR
    jwks_url: str | None = None
    jwks_file: Path | None = None
    public_key_pems: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    leeway_s: float = 30.0
    jwks_timeout_s: float = 5.0
    jwks_retries: int = 3
    jwks_cache_s: float = 300.0
    max_body_bytes: int = 4 << 20
    lock_timeout_s: float = 10.0
    max_token_lifetime_s: float = 3600.0
    server: ServerLimits = field(default_factory=ServerLimits)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> LineageServerConfig:
        """Build and validate a config; raises LineageConfigError naming the first bad field."""
        if not isinstance(data, Mapping):
            raise LineageConfigError(f"lineage server config: expected a mapping, got {data!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise LineageConfigError(
                f"lineage server config: unknown field(s) {unknown}; known: {sorted(known)}"
            )
        base = base_dir or Path.cwd()
        ledger = _ledger(data, "ledger_dir", base)
        if ledger is None:
            raise _fail("ledger_dir", "required (the ledger directory or s3://bucket/prefix)")
        kw: dict[str, Any] = {
            "ledger_dir": ledger,
            "issuer": _text(data, "issuer"),
            "audience": _text(data, "audience"),
            "key_dir": _path(data, "key_dir", base),
            "endpoint_url": _endpoint(data.get("endpoint_url")),
            "spec_dir": _path(data, "spec_dir", base) if "spec_dir" in data else DEFAULT_SPEC_DIR,
            "jwks_url": _jwks_url(data.get("jwks_url")),
            "jwks_file": _path(data, "jwks_file", base),
            "public_key_pems": read_pems(data.get("public_key_pems", ()), base, _fail),
            "algorithms": _algorithms(data.get("algorithms", cls.algorithms)),
            "leeway_s": _number(data, "leeway_s", 30.0, 0, 300),
            "jwks_timeout_s": _number(data, "jwks_timeout_s", 5.0, 0.1, 120),
            "jwks_retries": int(_number(data, "jwks_retries", 3, 0, 10)),
            "jwks_cache_s": _number(data, "jwks_cache_s", 300.0, 0, 86_400),
            "max_body_bytes": int(_number(data, "max_body_bytes", 4 << 20, 1024, 256 << 20)),
            "lock_timeout_s": _number(data, "lock_timeout_s", 10.0, 0, 600),
            "max_token_lifetime_s": _number(data, "max_token_lifetime_s", 3600.0, 10, 86_400),
            "server": ServerLimits.from_dict(data.get("server"), _fail),
        }
        if not (kw["jwks_url"] or kw["jwks_file"] or kw["public_key_pems"]):
            raise LineageConfigError(
                "lineage server config: no token verification keys; set at least one of "
                "'jwks_url', 'jwks_file' or 'public_key_pems'"
            )
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LineageServerConfig:
        """Load a YAML file (relative paths inside it are relative to the file's folder)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise LineageConfigError(f"lineage server config {p}: cannot be read as YAML: {err}") from err
        return cls.from_dict(data or {}, base_dir=p.resolve().parent)

    def authenticator(self) -> Any:
        """The push endpoint's bearer-token verifier, configured with this config's keys."""
        from connectors.exceptions import ConnectorError
        from connectors.http_push.auth import Authenticator

        try:  # the fields share the push endpoint's names, so its builder serves both
            return Authenticator.from_config(self)  # type: ignore[arg-type]
        except (ConnectorError, ValueError) as err:
            raise _fail("jwks_file/public_key_pems", str(err)) from err


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, f"required non-empty string, got {value!r}")
    return value


def _path(data: Mapping[str, Any], name: str, base: Path) -> Path | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, f"expected a path, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _ledger(data: Mapping[str, Any], name: str, base: Path) -> Path | str | None:
    """A local ledger directory (relative to ``base``) or an ``s3://`` URI, kept a string."""
    value = data.get(name)
    if isinstance(value, str) and "://" in value:
        try:
            return ledger_location(value)
        except LedgerConfigError as err:
            raise _fail(name, str(err)) from err
    return _path(data, name, base)


def _endpoint(value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("endpoint_url", f"expected the http(s) URL of an S3-compatible endpoint, got {value!r}")
    return str(value).rstrip("/")


def _number(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(name, f"expected a number between {low} and {high}, got {value!r}")
    return float(value)


def _jwks_url(value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    loopback = parts is not None and parts.hostname in ("localhost", "127.0.0.1", "::1")
    if (
        parts is None
        or not parts.hostname
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise _fail("jwks_url", f"must be an https:// URL (http:// only for loopback), got {value!r}")
    return str(value)


def _algorithms(value: Any) -> tuple[str, ...]:
    from connectors.http_push.config import SUPPORTED_ALGORITHMS

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise _fail("algorithms", f"expected a non-empty list, got {value!r}")
    for alg in value:
        if not isinstance(alg, str) or alg.lower().startswith(_HMAC_OR_NONE):
            raise _fail("algorithms", f"{alg!r} is not allowed (only asymmetric signatures)")
        if alg not in SUPPORTED_ALGORITHMS:
            raise _fail("algorithms", f"{alg!r} is not supported; choose from {SUPPORTED_ALGORITHMS}")
    return tuple(dict.fromkeys(value))
