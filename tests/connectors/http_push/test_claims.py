"""Authenticator claim rules, checked directly (no server): leeway, audience lists, grants."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from connectors.http_push.auth import Authenticator
from connectors.http_push.exceptions import AuthenticationError, AuthorizationError
from connectors.http_push.keys import KeySet

from .helpers import AUDIENCE, ISSUER, SigningKeys, b64url, claims, mint


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
