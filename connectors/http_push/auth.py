"""Bearer-token authentication and dataset authorisation for pushes (and lineage requests).

:meth:`Authenticator.authenticate` turns the ``Authorization`` header into a :class:`Caller` or
raises :class:`~connectors.http_push.exceptions.AuthenticationError` (answered 401). Order:
the allow-list is applied to the header's ``alg`` first, then the signature is verified
(:func:`~connectors.http_push.jws.verify_jws`), and only a verified payload is read for claims:

- ``exp`` required; ``nbf`` and ``iat`` honoured when present; all with ``leeway_s``. Each must be
  a finite, integer-valued number of seconds between 0 and the year 9999 (``NaN``, ``Infinity``,
  ``1e400``, ``1.5`` are refused), and the token may live at most ``max_lifetime_s``: ``exp - iat``,
  or ``exp - now`` when there is no ``iat``;
- ``iss`` must equal the configured issuer; ``aud`` (string or list) must contain the audience;
- ``sub`` is required.

With partner bindings (the push endpoint, :mod:`connectors.http_push.partners`) the verifying key
names the partner: a key bound to no partner verifies nothing, a ``sub`` other than that partner
is refused, and the datasets granted are the partner's, narrowed (never widened) by the token's
``scope`` entries ``push:<dataset>`` (space-separated string or list) and ``datasets`` claim.
Without bindings (the lineage endpoint) the grants are the token's claims.

:meth:`Authenticator.authorize` checks the dataset grant (answered 403). There are no wildcards.
Tokens never appear in messages or logs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.http_push.config import PushConfig
from connectors.http_push.exceptions import AuthenticationError, AuthorizationError
from connectors.http_push.jws import check_algorithm, parse_compact, token_json, verify_jws
from connectors.http_push.keys import JwksFetcher, KeySet, load_jwks_file
from connectors.http_push.partners import Bindings, bind_keys

SCOPE_PREFIX = "push:"
#: Latest NumericDate accepted: 9999-12-31T23:59:59Z.
MAX_NUMERIC_DATE = 253_402_300_799
DEFAULT_MAX_LIFETIME_S = 3600.0


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its identity and what it may do.

    ``subject`` is the bound partner when there are bindings (equal to the token's ``sub``), else
    the token's ``sub``; ``allowed`` is everything the binding permits (None without bindings),
    ``datasets`` what this token grants, ``scopes`` the token's scope entries.
    """

    subject: str
    datasets: frozenset[str]
    expires_at: datetime
    scopes: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None


class Authenticator:
    """Verifies bearer JWTs against static keys and/or a cached JWKS URL."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway_s: float = 30.0,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
        static_keys: KeySet | None = None,
        fetcher: JwksFetcher | None = None,
        bindings: Bindings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        self.static_keys = static_keys or KeySet()
        self.fetcher = fetcher
        self.bindings = bindings
        self._clock = clock

    @classmethod
    def from_config(cls, cfg: Any, *, clock: Callable[[], float] = time.time) -> Authenticator:
        """From a config with the shared key fields (``issuer``, ``jwks_file`` ...).

        A :class:`PushConfig` binds every key to its partner (start-up errors name the key); other
        configs (the lineage server's) list unbound ``public_key_pems``.
        """
        static = load_jwks_file(cfg.jwks_file) if cfg.jwks_file is not None else KeySet()
        bindings = None
        if isinstance(cfg, PushConfig):
            from connectors.http_push.config import config_error

            static = bind_keys(cfg.partners, static, jwks_url=bool(cfg.jwks_url), fail=config_error)
            bindings = Bindings(cfg.partners, static)
        elif cfg.public_key_pems:
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
            max_lifetime_s=cfg.max_token_lifetime_s,
            static_keys=static,
            fetcher=fetcher,
            bindings=bindings,
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
        verified = verify_jws(token, self.keys_for(kid), algorithms=self.algorithms)
        claims = token_json(verified.payload, "payload")
        caller = self._check_claims(claims)
        if self.bindings is None:
            return caller
        partner = self.bindings.owner(verified.key)
        if partner is None:
            which = f"kid {verified.key.kid!r}" if verified.key.kid else "a configured PEM"
            raise AuthenticationError(
                f"the key that signed this token ({which}) is bound to no partner; ask the "
                "operator to bind it under 'partners'"
            )
        if caller.subject != partner.name:
            raise AuthenticationError(
                f"token 'sub' {caller.subject[:80]!r} is not the partner its signing key is bound to "
                f"({partner.name!r}); a partner's key can only act as that partner"
            )
        claimed = caller.datasets if _has_grant_claims(claims) else partner.datasets
        return Caller(
            subject=partner.name,
            datasets=claimed & partner.datasets,
            expires_at=caller.expires_at,
            scopes=caller.scopes,
            allowed=partner.datasets,
        )

    def authorize(self, caller: Caller, dataset: str) -> None:
        """Raise AuthorizationError (403) unless the caller may push to ``dataset``."""
        if caller.allowed is not None and dataset not in caller.allowed:
            raise AuthorizationError(
                f"partner {caller.subject!r} may not push to dataset {dataset!r} (its binding "
                f"allows {sorted(caller.allowed)}); a token cannot widen that"
            )
        if dataset not in caller.datasets:
            raise AuthorizationError(
                f"token of {caller.subject!r} does not grant pushing to dataset {dataset!r} "
                f"(needs scope '{SCOPE_PREFIX}{dataset}' or '{dataset}' in the 'datasets' claim)"
            )

    def _check_claims(self, claims: dict[str, Any]) -> Caller:
        now = self._clock()
        exp = _numeric_date(claims, "exp", required=True)
        assert exp is not None
        if now > exp + self.leeway_s:
            raise AuthenticationError(f"token expired at {_iso(exp)}")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and now + self.leeway_s < nbf:
            raise AuthenticationError(f"token not valid before {_iso(nbf)}")
        iat = _numeric_date(claims, "iat")
        if iat is not None and now + self.leeway_s < iat:
            raise AuthenticationError(f"token issued in the future ({_iso(iat)})")
        lifetime = exp - iat if iat is not None else exp - now
        if lifetime > self.max_lifetime_s + (0 if iat is not None else self.leeway_s):
            since = "from 'iat' to 'exp'" if iat is not None else "from now to 'exp'"
            raise AuthenticationError(
                f"token lives {lifetime:.0f} s {since}, more than the maximum of "
                f"{self.max_lifetime_s:.0f} s; issue shorter-lived tokens"
            )
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
        return Caller(
            subject=sub, datasets=_granted(claims), expires_at=_dt(exp), scopes=_scopes(claims)
        )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("missing bearer token (send 'Authorization: Bearer <jwt>')")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization header is not 'Bearer <jwt>'")
    return token.strip()


def _numeric_date(claims: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    """A NumericDate claim: whole seconds since 1970, finite, at most the year 9999."""
    value = claims.get(name)
    if value is None:
        if required:
            raise AuthenticationError(f"token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError(f"token claim '{name}' is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise AuthenticationError(f"token claim '{name}' is not a finite number")
    if isinstance(value, float) and not value.is_integer():
        raise AuthenticationError(f"token claim '{name}' is not a whole number of seconds")
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise AuthenticationError(
            f"token claim '{name}' is out of range (0 to {MAX_NUMERIC_DATE}, the year 9999)"
        )
    return float(value)


def _scope_entries(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope")
    entries = scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else []
    return [e for e in entries if isinstance(e, str)]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    return frozenset(_scope_entries(claims))


def _has_grant_claims(claims: dict[str, Any]) -> bool:
    return "scope" in claims or "datasets" in claims


def _granted(claims: dict[str, Any]) -> frozenset[str]:
    granted = {e[len(SCOPE_PREFIX) :] for e in _scope_entries(claims) if e.startswith(SCOPE_PREFIX)}
    datasets = claims.get("datasets")
    if isinstance(datasets, list):
        granted.update(d for d in datasets if isinstance(d, str))
    granted.discard("")
    return frozenset(granted)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: float) -> str:
    return _dt(ts).isoformat()


def _safe(value: Any) -> str:
    """A short, printable rendering of a claim value for error messages."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."
