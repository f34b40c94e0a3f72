"""Authentication and authorisation over real HTTP: every refusal lands nothing."""

from __future__ import annotations

import logging

import httpx
import pytest

from connectors.http_push.config import PushConfig

from .helpers import (
    SigningKeys,
    hmac_confusion_token,
    landed_files,
    mint,
    tampered,
    unsigned_token,
)

pytestmark = pytest.mark.network

CSV = b"id,amount\n1,10.50\n2,3\n"


def push(
    client: httpx.Client, token: str | None, dataset: str = "orders", body: bytes = CSV
) -> httpx.Response:
    headers = {"Content-Type": "text/csv"}
    if token is not None:
        # A token that already names a scheme is sent as the whole header value.
        headers["Authorization"] = token if token.startswith("Basic ") else f"Bearer {token}"
    return client.post(f"/v1/datasets/{dataset}/batches", content=body, headers=headers)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_valid_token_of_each_key_family_is_accepted(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, alg: str
) -> None:
    client, cfg = service
    resp = push(client, mint(keys, alg))
    assert resp.status_code == 202, resp.text
    assert resp.json()["caller"] == "partner-a"
    assert len(landed_files(cfg.landing_root)) == 2  # body + receipt


def _bad_tokens(keys: SigningKeys) -> dict[str, tuple[str | None, str]]:
    """name -> (token, text the 401 detail must contain)."""
    good = mint(keys)
    return {
        "missing": (None, "missing bearer token"),
        "bad_signature": (tampered(good, scope="push:orders push:customers"), "signature"),
        "unpublished_key": (
            mint(SigningKeys(keys.other_rsa, keys.ec, keys.ed, keys.other_rsa)),
            "signature",
        ),
        "alg_none": (unsigned_token(), "no signature"),
        "hmac_with_public_key": (hmac_confusion_token(keys), "HMAC"),
        "expired": (mint(keys, exp=1_000_000_000, iat=999_999_000, nbf=None), "expired"),
        "not_yet_valid": (mint(keys, nbf=4_000_000_000), "not valid before"),
        "wrong_audience": (mint(keys, aud="someone-else"), "audience"),
        "wrong_issuer": (mint(keys, iss="https://evil.example"), "issuer"),
        "no_exp": (mint(keys, exp=None), "'exp'"),
        "not_bearer": ("Basic cGFydG5lcjpwYXNzd29yZA==", "not 'Bearer <jwt>'"),
        "garbage": ("not.a.jwt", "base64url"),
    }


BAD_TOKEN_CASES = [
    "missing",
    "bad_signature",
    "unpublished_key",
    "alg_none",
    "hmac_with_public_key",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "no_exp",
    "not_bearer",
    "garbage",
]


def test_every_bad_token_case_is_exercised(keys: SigningKeys) -> None:
    assert sorted(_bad_tokens(keys)) == sorted(BAD_TOKEN_CASES)


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
def test_invalid_token_is_refused_with_401_and_lands_nothing(
    service: tuple[httpx.Client, PushConfig],
    keys: SigningKeys,
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, cfg = service
    token, why = _bad_tokens(keys)[case]
    with caplog.at_level(logging.DEBUG):
        resp = push(client, token)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    body = resp.json()
    assert body["error"] == "invalid_token"
    assert why in body["detail"]
    if token:
        assert token not in resp.text
        assert token not in caplog.text
    assert landed_files(cfg.landing_root) == []


def test_token_without_the_dataset_scope_is_refused_with_403_and_lands_nothing(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    resp = push(client, mint(keys, scope="push:customers"), dataset="orders")
    assert resp.status_code == 403
    assert resp.json()["error"] == "insufficient_scope"
    assert "orders" in resp.json()["detail"]
    assert 'scope="push:orders"' in resp.headers["www-authenticate"]
    assert landed_files(cfg.landing_root) == []
    assert landed_files(cfg.landing_root, "customers") == []


def test_datasets_claim_grants_the_listed_datasets(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, _ = service
    token = mint(keys, scope=None, datasets=["customers"])
    assert push(client, token, dataset="customers").status_code == 202
    assert push(client, token, dataset="orders").status_code == 403


def test_unknown_dataset_is_404_after_authentication(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, _ = service
    assert push(client, None, dataset="secrets").status_code == 401
    resp = push(client, mint(keys, scope="push:secrets"), dataset="secrets")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_dataset"


def test_algorithm_outside_the_allow_list_is_refused_even_with_a_valid_signature(
    make_config, run_service, keys: SigningKeys
) -> None:
    cfg = make_config(algorithms=["ES256"])
    with run_service(cfg) as url, httpx.Client(base_url=url) as client:
        resp = push(client, mint(keys, "RS256"))
        assert resp.status_code == 401
        assert "allow-list" in resp.json()["detail"]
        assert push(client, mint(keys, "ES256")).status_code == 202
