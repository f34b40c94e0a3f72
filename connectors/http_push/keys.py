"""Verification keys: JWK / PEM parsing, key sets and the cached JWKS fetcher.

Contract:

- Only public asymmetric keys are usable: RSA, EC (P-256/384/521) and OKP Ed25519. Symmetric
  (``oct``) JWKs are skipped, never turned into HMAC secrets. Private members of a JWK (``d``,
  ``p`` ...) are ignored; only the public part is kept.
- A JWK's ``use`` (if present) must be ``sig`` and its ``key_ops`` (if present) must contain
  ``verify``, else the key is kept but never matches (so such a token fails as "no usable key").
- :class:`JwksFetcher` fetches a JWKS URL with a timeout and bounded retries, caches it for
  ``cache_s`` and refreshes early (at most every ``min_refresh_s``) when a token names an unknown
  ``kid`` — so a key rotation is picked up without letting random kids hammer the identity
  provider. A failed refresh keeps serving the last good key set.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from connectors.http_push.exceptions import KeysUnavailableError, PushConfigError
from connectors.jsontext import loads

log = logging.getLogger(__name__)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}


@dataclass(frozen=True)
class VerificationKey:
    """One public key with the JWK metadata that restricts its use."""

    key: PublicKey
    kid: str | None = None
    alg: str | None = None
    use: str | None = None
    key_ops: tuple[str, ...] | None = None
    owner: str | None = None
    """The partner this key is bound to (push endpoint); None for unbound keys."""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the key's SubjectPublicKeyInfo: one public key, one fingerprint."""
        der = self.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    @property
    def usable_for_signatures(self) -> bool:
        if self.use is not None and self.use != "sig":
            return False
        return self.key_ops is None or "verify" in self.key_ops


class KeySet:
    """An immutable list of verification keys, searchable by ``kid``."""

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        self.keys: tuple[VerificationKey, ...] = tuple(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __add__(self, other: KeySet) -> KeySet:
        return KeySet(self.keys + other.keys)

    def has_kid(self, kid: str) -> bool:
        return any(k.kid == kid for k in self.keys)

    def candidates(self, kid: str | None) -> list[VerificationKey]:
        """Keys a token with this ``kid`` may be checked against.

        All keys when the token names none; else the keys with that kid plus the keys that
        have no kid (PEM keys), which the token's kid cannot refer to or rule out.
        """
        if kid is None:
            return list(self.keys)
        return [k for k in self.keys if k.kid == kid or k.kid is None]

    @classmethod
    def from_jwks(cls, jwks: Any, *, origin: str = "JWKS") -> KeySet:
        """Parse a JWKS document (``{"keys": [...]}``); unusable entries are skipped with a log."""
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise ValueError(
                f"{origin}: not a JWKS document (expected an object with a 'keys' list)"
            )
        keys = []
        for i, jwk in enumerate(jwks["keys"]):
            try:
                keys.append(key_from_jwk(jwk))
            except ValueError as err:
                log.warning("%s: skipping key %d: %s", origin, i, err)
        return cls(keys)

    @classmethod
    def from_pems(
        cls, pems: Iterable[str], *, field: str = "public_key_pems", owner: str | None = None
    ) -> KeySet:
        """Parse PEM public keys (SubjectPublicKeyInfo); the kid is left unset.

        Errors name ``field`` (the config field the PEMs came from) and the entry.
        """
        keys = []
        for i, pem in enumerate(pems):
            try:
                key = load_pem_public_key(pem.encode("ascii"))
            except (ValueError, TypeError, UnicodeEncodeError) as err:
                raise PushConfigError(
                    f"http_push config field '{field}': entry {i} is not a PEM public key"
                ) from err
            if not isinstance(
                key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
            ):
                raise PushConfigError(
                    f"http_push config field '{field}': entry {i} is a "
                    f"{type(key).__name__}; only RSA, EC and Ed25519 keys are supported"
                )
            keys.append(VerificationKey(key=key, owner=owner))
        return cls(keys)


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): other characters or padding are errors."""
    if not isinstance(text, str) or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Reject non-canonical encodings (unused trailing bits set): one value, one encoding.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise ValueError("non-canonical base64url")
    return raw


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _int(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"JWK member '{name}' missing")
    return int.from_bytes(b64url_decode(value), "big")


def key_from_jwk(jwk: Any) -> VerificationKey:
    """Build a :class:`VerificationKey` from one JWK (public part only)."""
    if not isinstance(jwk, Mapping):
        raise ValueError("JWK is not an object")
    kty = jwk.get("kty")
    key: PublicKey
    if kty == "RSA":
        key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
    elif kty == "EC":
        curve = _CURVES.get(jwk.get("crv", ""))
        if curve is None:
            raise ValueError(f"unsupported EC curve {jwk.get('crv')!r}")
        # public_key() checks that the point is on the curve (invalid-curve attacks).
        key = ec.EllipticCurvePublicNumbers(_int(jwk, "x"), _int(jwk, "y"), curve()).public_key()
    elif kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise ValueError(f"unsupported OKP curve {jwk.get('crv')!r}")
        key = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk.get("x", ""))))
    else:
        raise ValueError(f"unsupported key type {kty!r} (only RSA, EC and OKP keys verify tokens)")
    ops = jwk.get("key_ops")
    return VerificationKey(
        key=key,
        kid=jwk.get("kid") if isinstance(jwk.get("kid"), str) else None,
        alg=jwk.get("alg") if isinstance(jwk.get("alg"), str) else None,
        use=jwk.get("use") if isinstance(jwk.get("use"), str) else None,
        key_ops=tuple(str(o) for o in ops) if isinstance(ops, list) else None,
    )


def load_jwks_file(path: Path) -> KeySet:
    """Read a local JWKS file; errors name the file."""
    try:
        doc = loads(path.read_text(encoding="utf-8"))
        return KeySet.from_jwks(doc, origin=str(path))
    except (OSError, ValueError) as err:
        raise PushConfigError(
            f"http_push config field 'jwks_file': cannot load JWKS from {path}: {err}"
        ) from err


class JwksFetcher:
    """A JWKS URL fetched with timeout + bounded retries and cached (thread-safe)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        cache_s: float = 300.0,
        min_refresh_s: float = 30.0,
        backoff_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.backoff_s = backoff_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")

    def get(self, *, want_kid: str | None = None) -> KeySet:
        """The cached key set; refetched when stale or when ``want_kid`` is not in it."""
        with self._lock:
            now = self._clock()
            age = now - self._fetched_at
            stale = self._keys is None or age >= self.cache_s
            missing = (
                want_kid is not None and self._keys is not None and not self._keys.has_kid(want_kid)
            )
            if stale or (missing and age >= self.min_refresh_s):
                try:
                    self._keys = self._fetch()
                    self._fetched_at = now
                except KeysUnavailableError:
                    if self._keys is None:
                        raise
                    log.warning("JWKS refresh from %s failed; using the cached key set", self.url)
                    # Do not retry on every request while the identity provider is down.
                    self._fetched_at = now - self.cache_s + self.min_refresh_s
            assert self._keys is not None
            return self._keys

    def _fetch(self) -> KeySet:
        import httpx

        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                resp = httpx.get(self.url, timeout=self.timeout_s, follow_redirects=False)
                if resp.status_code >= 500 or resp.status_code == 429:
                    last = RuntimeError(f"HTTP {resp.status_code}")
                    continue
                if resp.status_code != 200:
                    raise KeysUnavailableError(
                        f"JWKS {self.url}: answered HTTP {resp.status_code}; check 'jwks_url'"
                    )
                return KeySet.from_jwks(loads(resp.content), origin=self.url)
            except (httpx.HTTPError, ValueError) as err:
                last = err
        raise KeysUnavailableError(
            f"JWKS {self.url}: not reachable after {self.retries + 1} attempts ({last}); "
            "tokens cannot be verified until it answers"
        ) from last
