"""Authenticator claim rules, checked directly (no server): leeway, audience lists, grants."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from connectors.http_push.auth import Authenticator
from connectors.http_push.exceptions import AuthenticationError, AuthorizationError
from connectors.http_push.keys import KeySet

from .helpers import AUDIENCE, ISSUER, SigningKeys, b64url, claims, mint, raw_claims, sign_raw


@pytest.fixture
def auth(keys: SigningKeys) -> Authenticator:
    return Authenticator(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=("RS256", "ES256", "EdDSA"),
        leeway_s=30,
        static_keys=KeySet.from_jwks(keys.jwks()),
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_expiry_within_the_leeway_is_accepted_beyond_it_refused(
    auth: Authenticator, keys: SigningKeys
) -> None:
    now = int(time.time())
    assert auth.authenticate(bearer(mint(keys, exp=now - 10, nbf=None, iat=now - 60)))
    with pytest.raises(AuthenticationError, match="expired"):
        auth.authenticate(bearer(mint(keys, exp=now - 60, nbf=None, iat=now - 120)))


def test_audience_may_be_a_list_containing_ours(auth: Authenticator, keys: SigningKeys) -> None:
    caller = auth.authenticate(bearer(mint(keys, aud=["other", AUDIENCE])))
    assert caller.subject == "partner-a"


def test_token_issued_in_the_future_is_refused(auth: Authenticator, keys: SigningKeys) -> None:
    with pytest.raises(AuthenticationError, match="future"):
        auth.authenticate(bearer(mint(keys, iat=int(time.time()) + 3600)))


def test_token_without_sub_is_refused(auth: Authenticator, keys: SigningKeys) -> None:
    with pytest.raises(AuthenticationError, match="'sub'"):
        auth.authenticate(bearer(mint(keys, sub=None)))


def test_scope_may_be_a_list_and_grants_no_wildcards(
    auth: Authenticator, keys: SigningKeys
) -> None:
    caller = auth.authenticate(bearer(mint(keys, scope=["push:orders", "read:all", "push:*"])))
    auth.authorize(caller, "orders")
    with pytest.raises(AuthorizationError, match="customers"):
        auth.authorize(caller, "customers")


def test_crit_header_is_refused(auth: Authenticator, keys: SigningKeys) -> None:
    token = jwt.encode(
        claims(), keys.rsa, algorithm="RS256", headers={"kid": "rsa-1", "crit": ["exp"], "exp": 1}
    )
    with pytest.raises(AuthenticationError, match="crit"):
        auth.authenticate(bearer(token))


def test_embedded_jwk_header_is_ignored(auth: Authenticator, keys: SigningKeys) -> None:
    attacker = SigningKeys.generate()
    jwk = attacker.jwks()["keys"][0]
    token = jwt.encode(
        claims(), attacker.rsa, algorithm="RS256", headers={"kid": "rsa-1", "jwk": jwk}
    )
    with pytest.raises(AuthenticationError, match="signature"):
        auth.authenticate(bearer(token))


def test_oversized_and_non_json_tokens_are_refused(auth: Authenticator) -> None:
    with pytest.raises(AuthenticationError, match="longer"):
        auth.authenticate(bearer("a" * 20_000))
    header = b64url(json.dumps({"alg": "RS256"}).encode())
    with pytest.raises(AuthenticationError):
        auth.authenticate(bearer(f"{header}.{b64url(b'not json')}.{b64url(b'sig')}"))


def test_error_messages_never_contain_the_token(auth: Authenticator, keys: SigningKeys) -> None:
    token = mint(keys, aud="elsewhere")
    with pytest.raises(AuthenticationError) as err:
        auth.authenticate(bearer(token))
    assert token not in str(err.value)
    assert token.split(".")[2] not in str(err.value)


@pytest.mark.parametrize(
    ("claim", "literal", "why"),
    [
        ("exp", "NaN", "not valid JSON"),
        ("exp", "Infinity", "not valid JSON"),
        ("exp", "1e400", "not a finite number"),
        ("exp", "-1", "out of range"),
        ("exp", "253402300800", "out of range"),
        ("exp", "10" + "0" * 30, "out of range"),
        ("exp", '"2030-01-01"', "not a number"),
        ("exp", "true", "not a number"),
        ("iat", "NaN", "not valid JSON"),
        ("iat", "1.5", "whole number"),
        ("nbf", "-Infinity", "not valid JSON"),
        ("nbf", "1e400", "not a finite number"),
    ],
)
def test_non_finite_fractional_or_out_of_range_dates_are_refused(
    auth: Authenticator, keys: SigningKeys, claim: str, literal: str, why: str
) -> None:
    with pytest.raises(AuthenticationError, match=why):
        auth.authenticate(bearer(sign_raw(keys, raw_claims(**{claim: literal}))))


def test_a_token_that_lives_longer_than_the_maximum_is_refused(
    auth: Authenticator, keys: SigningKeys
) -> None:
    now = int(time.time())
    assert auth.max_lifetime_s == 3600  # the default
    assert auth.authenticate(bearer(mint(keys, iat=now, exp=now + 3600)))
    with pytest.raises(AuthenticationError, match=r"lives 3601 s from 'iat' to 'exp'.*3600 s"):
        auth.authenticate(bearer(mint(keys, iat=now, exp=now + 3601)))
    # Without iat the lifetime counts from now; a year-long token is refused either way.
    with pytest.raises(AuthenticationError, match="from now to 'exp'"):
        auth.authenticate(bearer(mint(keys, iat=None, nbf=None, exp=now + 365 * 86400)))
    # An old iat with a near exp is a long-lived token too.
    with pytest.raises(AuthenticationError, match="lives"):
        auth.authenticate(bearer(mint(keys, iat=now - 86400, nbf=None, exp=now + 60)))


def test_deeply_nested_token_header_or_payload_is_refused_not_crashed(
    auth: Authenticator, keys: SigningKeys
) -> None:
    deep = "[" * 3000 + "]" * 3000
    header = b64url(('{"alg":"EdDSA","kid":"ed-1","x":' + deep + "}").encode())
    with pytest.raises(AuthenticationError, match="header nests deeper than 16 levels"):
        auth.authenticate(bearer(f"{header}.{b64url(b'{}')}.{b64url(b'sig')}"))
    nested = sign_raw(keys, raw_claims(extra="[" * 20 + "]" * 20))
    with pytest.raises(AuthenticationError, match="payload nests deeper than 16 levels"):
        auth.authenticate(bearer(nested))
    assert auth.authenticate(bearer(sign_raw(keys, raw_claims(extra="[[1]]"))))
