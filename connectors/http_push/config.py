"""Configuration of the HTTP push service, validated at once.

:meth:`PushConfig.from_dict` checks every field when the config is built and raises
:class:`~connectors.http_push.exceptions.PushConfigError` naming the field and the problem, so a
bad config fails at start-up, never on the first request. Relative paths are resolved against
``base_dir`` (the YAML file's folder when loaded with :meth:`PushConfig.from_yaml`).

>>> cfg = PushConfig.from_dict({
...     "landing_root": "/tmp/landing", "datasets": ["orders"], "issuer": "https://idp",
...     "audience": "maestro-push", "jwks_url": "https://idp/jwks.json",
...     "partners": {"acme": {"datasets": ["orders"], "keys": [{"kid": "acme-1"}]}}})
>>> cfg.algorithms
('RS256', 'ES256', 'EdDSA')

Every key is bound to one partner (:mod:`connectors.http_push.partners`); the key files
themselves are read when the app is built (:meth:`Authenticator.from_config`), still at start-up.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.http_push.exceptions import PushConfigError
from connectors.http_push.partners import Partner, parse_partners
from connectors.http_push.serving import ServerLimits

#: Algorithms the verifier implements. HMAC (HS*) is deliberately absent: partners never share a
#: secret with us, and without an HMAC code path the "HMAC keyed with the public key" confusion
#: cannot happen. ``none`` is never accepted.
SUPPORTED_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
DEFAULT_MAX_BODY_BYTES = 64 << 20
DEFAULT_MAX_DECODED_BYTES = 512 << 20
DEFAULT_MAX_TOKEN_LIFETIME_S = 3600.0

_DATASET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class RateConfig:
    """Token bucket per caller: ``requests_per_s`` sustained, ``burst`` at once."""

    requests_per_s: float = 10.0
    burst: int = 20


@dataclass(frozen=True)
class PushConfig:
    """Everything the push service needs; see ``connectors/http_push/README.md`` for each field."""

    landing_root: Path
    datasets: tuple[str, ...]
    issuer: str
    audience: str
    partners: tuple[Partner, ...]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_s: float = 30.0
    max_token_lifetime_s: float = DEFAULT_MAX_TOKEN_LIFETIME_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    rate: RateConfig = field(default_factory=RateConfig)
    receipt_signing_key: Path | None = None
    jwks_timeout_s: float = 5.0
    jwks_retries: int = 3
    jwks_cache_s: float = 300.0
    server: ServerLimits = field(default_factory=ServerLimits)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> PushConfig:
        """Build and validate a config; raises PushConfigError naming the first bad field."""
        if not isinstance(data, Mapping):
            raise PushConfigError(f"http_push config: expected a mapping, got {type(data).__name__}")
        if "public_key_pems" in data:
            raise _fail(
                "public_key_pems",
                "keys are no longer listed on their own: bind each PEM to its partner under "
                "partners.<name>.keys as {pem: <file or PEM text>}",
            )
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PushConfigError(
                f"http_push config: unknown field(s) {unknown}; known fields are {sorted(known)}"
            )
        base = base_dir or Path.cwd()
        datasets = _datasets(data.get("datasets"))
        kw: dict[str, Any] = {
            "landing_root": _path(data, "landing_root", base, required=True),
            "datasets": datasets,
            "issuer": _text(data, "issuer"),
            "audience": _text(data, "audience"),
            "jwks_url": _jwks_url(data.get("jwks_url")),
            "jwks_file": _path(data, "jwks_file", base),
            "partners": parse_partners(
                data.get("partners"), datasets=datasets, base=base, fail=_fail, read_pems=read_pems
            ),
            "algorithms": _algorithms(data.get("algorithms", DEFAULT_ALGORITHMS)),
            "leeway_s": _number(data, "leeway_s", 30.0, low=0, high=300),
            "max_token_lifetime_s": _number(
                data, "max_token_lifetime_s", DEFAULT_MAX_TOKEN_LIFETIME_S, low=10, high=86_400
            ),
            "max_body_bytes": int(_number(data, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, low=1)),
            "max_decoded_bytes": int(_number(data, "max_decoded_bytes", DEFAULT_MAX_DECODED_BYTES, low=1)),
            "rate": _rate(data.get("rate", {})),
            "receipt_signing_key": _path(data, "receipt_signing_key", base),
            "jwks_timeout_s": _number(data, "jwks_timeout_s", 5.0, low=0.1, high=120),
            "jwks_retries": int(_number(data, "jwks_retries", 3, low=0, high=10)),
            "jwks_cache_s": _number(data, "jwks_cache_s", 300.0, low=0, high=86_400),
            "server": ServerLimits.from_dict(data.get("server"), _fail),
        }
        if any(p.kids for p in kw["partners"]) and not (kw["jwks_url"] or kw["jwks_file"]):
            raise PushConfigError(
                "http_push config: partners name keys by 'kid' but neither 'jwks_file' nor "
                "'jwks_url' is set to hold them"
            )
        if kw["max_decoded_bytes"] < kw["max_body_bytes"]:
            raise PushConfigError(
                "http_push config field 'max_decoded_bytes': must be at least 'max_body_bytes' "
                f"({kw['max_body_bytes']}), got {kw['max_decoded_bytes']}"
            )
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PushConfig:
        """Load a YAML file (relative paths inside it are relative to the file's folder)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise PushConfigError(f"http_push config {p}: cannot be read as YAML: {err}") from err
        return cls.from_dict(data or {}, base_dir=p.resolve().parent)


def _fail(name: str, problem: str) -> PushConfigError:
    return PushConfigError(f"http_push config field '{name}': {problem}")


config_error = _fail
_push_fail = _fail


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, f"required non-empty string, got {value!r}")
    return value


def _path(data: Mapping[str, Any], name: str, base: Path, *, required: bool = False) -> Path | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _fail(name, "required (a folder path)")
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, f"expected a path, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def _number(
    data: Mapping[str, Any], name: str, default: float, *, low: float, high: float | None = None
) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, f"expected a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _fail(name, f"expected a number {bounds}, got {value!r}")
    return value


def _datasets(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _fail("datasets", f"expected a non-empty list of dataset names, got {value!r}")
    for name in value:
        if not isinstance(name, str) or not _DATASET_RE.match(name):
            raise _fail(
                "datasets",
                f"{name!r} is not a valid dataset name (letters, digits, '_', '.', '-'; "
                "not starting with '.' or '-')",
            )
    if len(set(value)) != len(value):
        raise _fail("datasets", f"duplicate names in {list(value)}")
    return tuple(value)


def _jwks_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail("jwks_url", f"expected a URL string, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return value
    raise _fail("jwks_url", f"must be an https:// URL (http:// only for loopback), got {value!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_pems(value: Any, base: Path, fail: Callable[[str, str], Exception] | None = None) -> tuple[str, ...]:
    """Each entry is inline PEM text or a path to a PEM file; returned as PEM text.

    ``fail(field, problem)`` builds the caller's config error (default: this module's).
    """
    _fail = fail or _push_fail
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _fail("public_key_pems", f"expected a list of PEM texts or paths, got {value!r}")
    out: list[str] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            raise _fail("public_key_pems", f"entry {i} is not a PEM text or a path")
        if entry.lstrip().startswith("-----BEGIN"):
            out.append(entry)
            continue
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else base / p
        try:
            out.append(p.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError) as err:
            raise _fail("public_key_pems", f"entry {i}: cannot read PEM file {p}: {err}") from err
    return tuple(out)


def _algorithms(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise _fail("algorithms", f"expected a non-empty list, got {value!r}")
    for alg in value:
        if not isinstance(alg, str):
            raise _fail("algorithms", f"expected algorithm names, got {alg!r}")
        if alg.lower() == "none":
            raise _fail("algorithms", "'none' can never be allowed (unsigned tokens)")
        if alg.upper().startswith("HS"):
            raise _fail(
                "algorithms",
                f"{alg!r}: HMAC algorithms are not supported (partners sign with private keys; "
                "use RS256, ES256 or EdDSA)",
            )
        if alg not in SUPPORTED_ALGORITHMS:
            raise _fail("algorithms", f"{alg!r} is not supported; choose from {SUPPORTED_ALGORITHMS}")
    return tuple(dict.fromkeys(value))


def _rate(value: Any) -> RateConfig:
    if not isinstance(value, Mapping):
        raise _fail("rate", f"expected a mapping with requests_per_s and burst, got {value!r}")
    unknown = sorted(set(value) - {"requests_per_s", "burst"})
    if unknown:
        raise _fail("rate", f"unknown key(s) {unknown}; expected requests_per_s and burst")
    rps = value.get("requests_per_s", 10.0)
    burst = value.get("burst", 20)
    if isinstance(rps, bool) or not isinstance(rps, int | float) or rps <= 0:
        raise _fail("rate.requests_per_s", f"expected a positive number, got {rps!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise _fail("rate.burst", f"expected an integer of at least 1, got {burst!r}")
    return RateConfig(requests_per_s=float(rps), burst=burst)
