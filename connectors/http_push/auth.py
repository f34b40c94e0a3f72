"""Bearer-token authentication and dataset authorisation for pushes.

:meth:`Authenticator.authenticate` turns an ``Authorization`` header into a :class:`Caller` or
raises :class:`~connectors.http_push.exceptions.AuthenticationError` (answered 401). Order:
the allow-list is applied to the header's ``alg`` first, then the signature is verified
(:func:`~connectors.http_push.jws.verify_jws`), and only a verified payload is read for claims:

- ``exp`` required; ``nbf`` and ``iat`` honoured when present; all with ``leeway_s``;
- ``iss`` must equal the configured issuer; ``aud`` (string or list) must contain the audience;
- ``sub`` (the caller recorded in receipts) is required.

:meth:`Authenticator.authorize` checks the dataset grant (answered 403): the token names the
datasets it may push to as ``scope`` entries ``push:<dataset>`` (space-separated string or list)
and/or a ``datasets`` list claim. There are no wildcards. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.http_push.config import PushConfig
from connectors.http_push.exceptions import AuthenticationError, AuthorizationError
from connectors.http_push.jws import check_algorithm, parse_compact, verify_jws
from connectors.http_push.keys import JwksFetcher, KeySet, load_jwks_file

SCOPE_PREFIX = "push:"


@dataclass(frozen=True)
class Caller:
    """An authenticated partner: the token's ``sub`` and the datasets it may push to."""

    subject: str
    datasets: frozenset[str]
    expires_at: datetime


class Authenticator:
    """Verifies bearer JWTs against static keys and/or a cached JWKS URL."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway_s: float = 30.0,
        static_keys: KeySet | None = None,
        fetcher: JwksFetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway_s = leeway_s
        self.static_keys = static_keys or KeySet()
        self.fetcher = fetcher
        self._clock = clock

    @classmethod
    def from_config(
        cls, cfg: PushConfig, *, clock: Callable[[], float] = time.time
    ) -> Authenticator:
        static = KeySet()
        if cfg.jwks_file is not None:
            static = static + load_jwks_file(cfg.jwks_file)
        if cfg.public_key_pems:
            static = static + KeySet.from_pems(cfg.public_key_pems)
        fetcher = None
        if cfg.jwks_url:
            fetcher = JwksFetcher(
                cfg.jwks_url,
                timeout_s=cfg.jwks_timeout_s,
                retries=cfg.jwks_retries,
                cache_s=cfg.jwks_cache_s,
            )
        return cls(
            issuer=cfg.issuer,
            audience=cfg.audience,
            algorithms=cfg.algorithms,
            leeway_s=cfg.leeway_s,
            static_keys=static,
            fetcher=fetcher,
            clock=clock,
        )

    def keys_for(self, kid: str | None) -> KeySet:
        """Static keys plus the JWKS URL's (refreshed early if ``kid`` is unknown)."""
        keys = self.static_keys
        if self.fetcher is not None and not (kid is not None and keys.has_kid(kid)):
            keys = keys + self.fetcher.get(want_kid=kid)
        return keys

    def authenticate(self, authorization: str | None) -> Caller:
        """Verify the ``Authorization`` header value; raises AuthenticationError (401)."""
        token = _bearer(authorization)
        header = parse_compact(token)[0]
        check_algorithm(header.get("alg"), self.algorithms)  # before any key lookup or fetch
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        _, payload = verify_jws(token, self.keys_for(kid), algorithms=self.algorithms)
        try:
            claims = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise AuthenticationError("token payload is not a JSON object") from err
        if not isinstance(claims, dict):
            raise AuthenticationError("token payload is not a JSON object")
        return self._check_claims(claims)

    def authorize(self, caller: Caller, dataset: str) -> None:
        """Raise AuthorizationError (403) unless the caller's token grants ``dataset``."""
        if dataset not in caller.datasets:
            raise AuthorizationError(
                f"token of {caller.subject!r} does not grant pushing to dataset {dataset!r} "
                f"(needs scope '{SCOPE_PREFIX}{dataset}' or '{dataset}' in the 'datasets' claim)"
            )

    def _check_claims(self, claims: dict[str, Any]) -> Caller:
        now = self._clock()
        exp = _numeric(claims, "exp", required=True)
        assert exp is not None
        if now > exp + self.leeway_s:
            raise AuthenticationError(f"token expired at {_iso(exp)}")
        nbf = _numeric(claims, "nbf")
        if nbf is not None and now + self.leeway_s < nbf:
            raise AuthenticationError(f"token not valid before {_iso(nbf)}")
        iat = _numeric(claims, "iat")
        if iat is not None and now + self.leeway_s < iat:
            raise AuthenticationError(f"token issued in the future ({_iso(iat)})")
        if claims.get("iss") != self.issuer:
            raise AuthenticationError(
                f"token issuer {_safe(claims.get('iss'))} is not the configured issuer"
            )
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in auds:
            raise AuthenticationError(
                f"token audience {_safe(aud)} does not include {self.audience!r}"
            )
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            raise AuthenticationError("token has no 'sub' claim naming the caller")
        return Caller(subject=sub, datasets=_granted(claims), expires_at=_dt(exp))


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("missing bearer token (send 'Authorization: Bearer <jwt>')")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization header is not 'Bearer <jwt>'")
    return token.strip()


def _numeric(claims: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise AuthenticationError(f"token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError(f"token claim '{name}' is not a number")
    return float(value)


def _granted(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    entries = scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else []
    granted = {
        e[len(SCOPE_PREFIX) :] for e in entries if isinstance(e, str) and e.startswith(SCOPE_PREFIX)
    }
    datasets = claims.get("datasets")
    if isinstance(datasets, list):
        granted.update(d for d in datasets if isinstance(d, str))
    granted.discard("")
    return frozenset(granted)


def _dt(ts: float) -> datetime:
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)


def _iso(ts: float) -> str:
    return _dt(ts).isoformat()


def _safe(value: Any) -> str:
    """A short, printable rendering of a claim value for error messages."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."
