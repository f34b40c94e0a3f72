"""JWS compact-serialisation verification (RFC 7515) for asymmetric algorithms only.

:func:`verify_jws` is the one place a signature is checked. Its order is deliberate:

1. parse strictly: exactly three base64url parts, no padding, canonical encoding, a JSON object
   header (JSON serialisation and anything else is rejected);
2. apply the algorithm allow-list to the header's ``alg`` *before* any key is touched —
   ``none`` and every HMAC algorithm are refused whatever the allow-list says;
3. refuse ``crit`` headers (no extension is understood) and ignore embedded keys
   (``jwk``, ``jku``, ``x5c``, ``x5u``): only configured keys are trusted;
4. pick candidate keys by ``kid``; a key is used only if its type matches the algorithm family
   (RSA for RS*/PS*, EC on the algorithm's curve for ES*, Ed25519 for EdDSA), its declared
   ``alg`` (if any) equals the header's, and its ``use``/``key_ops`` allow verification;
5. verify with ``cryptography``. ES* signatures must be the fixed-size ``r || s`` form.

It returns the header, the payload bytes and the key that verified (whose ``owner`` is the partner
it is bound to); claims are checked by :mod:`connectors.http_push.auth`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from connectors.http_push.config import SUPPORTED_ALGORITHMS
from connectors.http_push.exceptions import AuthenticationError
from connectors.http_push.keys import KeySet, VerificationKey, b64url_decode
from connectors.jsontext import JsonDepthError, loads

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES: dict[str, tuple[str, int]] = {
    "ES256": ("secp256r1", 32),
    "ES384": ("secp384r1", 48),
    "ES512": ("secp521r1", 66),
}
#: Tokens larger than this are refused before parsing (a header is not a place for megabytes).
MAX_TOKEN_CHARS = 16_384
#: How deep a token's header or claims may nest; real tokens nest two or three levels.
MAX_TOKEN_DEPTH = 16


class Verified(NamedTuple):
    """A verified token: its header, its payload bytes and the configured key that verified it."""

    header: dict[str, Any]
    payload: bytes
    key: VerificationKey


def token_json(raw: bytes, part: str) -> dict[str, Any]:
    """A token part (``header`` or ``payload``) as a JSON object; AuthenticationError otherwise.

    Nesting is bounded (:data:`MAX_TOKEN_DEPTH`) and ``NaN``/``Infinity`` are refused, so no token
    can exhaust the parser's stack or smuggle a non-finite number.
    """
    try:
        value = loads(raw.decode("utf-8"), max_depth=MAX_TOKEN_DEPTH)
    except JsonDepthError as err:
        raise AuthenticationError(f"token {part} nests deeper than {MAX_TOKEN_DEPTH} levels") from err
    except UnicodeDecodeError as err:
        raise AuthenticationError(f"token {part} is not UTF-8 JSON") from err
    except ValueError as err:  # the message says where, never what (no token text)
        raise AuthenticationError(f"token {part} is not JSON ({err})") from err
    if not isinstance(value, dict):
        raise AuthenticationError(f"token {part} is not a JSON object")
    return value


def parse_compact(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Split a compact JWS into (header, payload, signing input, signature); strict."""
    if not isinstance(token, str) or not token:
        raise AuthenticationError("token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError(f"token is longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationError(
            f"token is not a compact JWS (expected 3 dot-separated parts, got {len(parts)})"
        )
    h64, p64, s64 = parts
    if not h64:
        raise AuthenticationError("token has no header")
    if not s64:
        raise AuthenticationError("token has no signature (unsigned tokens are never accepted)")
    try:
        header_raw, payload, signature = b64url_decode(h64), b64url_decode(p64), b64url_decode(s64)
    except ValueError as err:
        raise AuthenticationError("token parts are not valid base64url") from err
    header = token_json(header_raw, "header")
    return header, payload, f"{h64}.{p64}".encode("ascii"), signature


def check_algorithm(alg: Any, algorithms: tuple[str, ...] | list[str]) -> str:
    """The allow-list check, done on the header alone before any key is looked at."""
    if not isinstance(alg, str) or not alg:
        raise AuthenticationError("token header has no 'alg'")
    if alg.lower() == "none":
        raise AuthenticationError("token algorithm 'none' is never accepted")
    if alg.upper().startswith("HS"):
        raise AuthenticationError(
            f"token algorithm {alg!r} (HMAC) is not accepted; tokens must be signed with a "
            "private key"
        )
    if alg not in algorithms or alg not in SUPPORTED_ALGORITHMS:
        raise AuthenticationError(
            f"token algorithm {alg!r} is not in the allow-list {list(algorithms)}"
        )
    return alg


def key_matches(key: VerificationKey, alg: str) -> bool:
    """Whether ``key`` may verify a token signed with ``alg`` (type, curve, alg, use)."""
    if not key.usable_for_signatures:
        return False
    if key.alg is not None and key.alg != alg:
        return False
    k = key.key
    if alg[:2] in ("RS", "PS"):
        return isinstance(k, rsa.RSAPublicKey) and k.key_size >= 2048
    if alg in _EC_CURVES:
        return isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == _EC_CURVES[alg][0]
    if alg == "EdDSA":
        return isinstance(k, ed25519.Ed25519PublicKey)
    return False


def _verify_with(key: VerificationKey, alg: str, signing_input: bytes, sig: bytes) -> bool:
    k = key.key
    try:
        if alg == "EdDSA":
            assert isinstance(k, ed25519.Ed25519PublicKey)
            k.verify(sig, signing_input)
            return True
        h = _HASHES[alg[2:]]()
        if alg.startswith("RS"):
            assert isinstance(k, rsa.RSAPublicKey)
            if len(sig) != (k.key_size + 7) // 8:
                return False
            k.verify(sig, signing_input, padding.PKCS1v15(), h)
        elif alg.startswith("PS"):
            assert isinstance(k, rsa.RSAPublicKey)
            if len(sig) != (k.key_size + 7) // 8:
                return False
            # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
            k.verify(sig, signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)
        else:
            assert isinstance(k, ec.EllipticCurvePublicKey)
            size = _EC_CURVES[alg][1]
            if len(sig) != 2 * size:
                return False
            r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            k.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(h))
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_jws(token: str, keys: KeySet, *, algorithms: tuple[str, ...] | list[str]) -> Verified:
    """Verify a compact JWS against ``keys``; return (header, payload, key) or raise.

    Raises :class:`~connectors.http_push.exceptions.AuthenticationError` naming the problem
    (never including the token).
    """
    header, payload, signing_input, sig = parse_compact(token)
    alg = check_algorithm(header.get("alg"), algorithms)
    if "crit" in header:
        raise AuthenticationError("token header has 'crit' extensions, which are not supported")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthenticationError("token header 'kid' is not a string")
    candidates = [k for k in keys.candidates(kid) if key_matches(k, alg)]
    if not candidates:
        which = f"kid {kid!r}" if kid is not None else "no kid"
        raise AuthenticationError(
            f"no configured key can verify an {alg} token with {which} "
            "(unknown key, or key type/algorithm mismatch)"
        )
    for key in candidates:
        if _verify_with(key, alg, signing_input, sig):
            return Verified(header, payload, key)
    raise AuthenticationError("token signature does not verify")
