"""Keys from a JWKS URL (loopback): fetched with timeout and bounded retries, cached, rotated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.http_push.exceptions import AuthenticationError, KeysUnavailableError
from connectors.http_push.keys import JwksFetcher, KeySet

from .helpers import SigningKeys, mint, serve

pytestmark = pytest.mark.network


class Idp:
    """A fake identity provider serving a JWKS; can fail its next N answers."""

    def __init__(self, jwks: dict) -> None:
        self.jwks = jwks
        self.fail_next = 0
        self.hits = 0

    def app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            self.hits += 1
            if self.fail_next:
                self.fail_next -= 1
                return Response("down", status_code=503)
            return JSONResponse(self.jwks)

        return Starlette(routes=[Route("/jwks", jwks)])


@pytest.fixture
def idp(keys: SigningKeys) -> Iterator[tuple[Idp, str]]:
    fake = Idp({"keys": [k for k in keys.jwks()["keys"] if k["kid"] == "ec-1"]})
    with serve(fake.app()) as url:
        yield fake, f"{url}/jwks"


def fetcher(url: str, **kw) -> JwksFetcher:
    return JwksFetcher(url, timeout_s=2, retries=2, backoff_s=0.01, **kw)


def test_jwks_is_fetched_once_and_cached(idp: tuple[Idp, str]) -> None:
    fake, url = idp
    f = fetcher(url)
    assert f.get().has_kid("ec-1")
    assert f.get().has_kid("ec-1")
    assert fake.hits == 1


def test_transient_failures_are_retried_a_bounded_number_of_times(idp: tuple[Idp, str]) -> None:
    fake, url = idp
    fake.fail_next = 2
    assert len(fetcher(url).get()) == 1
    assert fake.hits == 3
    fake.fail_next = 10
    fake.hits = 0
    with pytest.raises(KeysUnavailableError, match="3 attempts"):
        fetcher(url).get()
    assert fake.hits == 3


def test_unreachable_jwks_url_is_a_retryable_error() -> None:
    with pytest.raises(KeysUnavailableError):
        JwksFetcher("http://127.0.0.1:9/jwks", timeout_s=0.5, retries=1, backoff_s=0.01).get()


def test_unknown_kid_triggers_one_early_refresh_for_key_rotation(
    idp: tuple[Idp, str], keys: SigningKeys
) -> None:
    fake, url = idp
    f = fetcher(url, min_refresh_s=0)
    assert not f.get().has_kid("rsa-1")
    fake.jwks = keys.jwks()  # the provider rotates in a new key
    assert f.get(want_kid="rsa-1").has_kid("rsa-1")
    assert fake.hits == 2


def test_service_verifies_tokens_with_keys_from_the_jwks_url(
    idp: tuple[Idp, str], keys: SigningKeys, make_config, run_service
) -> None:
    _, url = idp
    cfg = make_config(jwks_file=None, jwks_url=url)
    with run_service(cfg) as base, httpx.Client(base_url=base) as client:
        h = {"Content-Type": "text/csv"}
        ok = client.post(
            "/v1/datasets/orders/batches",
            content=b"id\n1\n",
            headers={**h, "Authorization": f"Bearer {mint(keys, 'ES256')}"},
        )
        unknown = client.post(
            "/v1/datasets/orders/batches",
            content=b"id\n1\n",
            headers={**h, "Authorization": f"Bearer {mint(keys, 'RS256')}"},
        )
    assert ok.status_code == 202
    assert unknown.status_code == 401


def test_service_answers_503_when_the_jwks_url_is_down(
    idp: tuple[Idp, str], keys: SigningKeys, make_config, run_service
) -> None:
    fake, url = idp
    fake.fail_next = 100
    cfg = make_config(jwks_file=None, jwks_url=url, jwks_retries=1)
    with run_service(cfg) as base, httpx.Client(base_url=base) as client:
        resp = client.post(
            "/v1/datasets/orders/batches",
            content=b"id\n1\n",
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {mint(keys, 'ES256')}"},
        )
    assert resp.status_code == 503
    assert resp.headers["retry-after"]
    assert resp.json()["error"] == "keys_unavailable"


def test_pem_public_keys_verify_tokens(
    keys: SigningKeys, make_config, run_service, tmp_path: Path
) -> None:
    pem = keys.ec.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "ec.pem").write_bytes(pem)
    partners = {"partner-a": {"datasets": ["orders"], "keys": [{"pem": str(tmp_path / "ec.pem")}]}}
    cfg = make_config(jwks_file=None, partners=partners)
    with run_service(cfg) as base, httpx.Client(base_url=base) as client:
        resp = client.post(
            "/v1/datasets/orders/batches",
            content=b"id\n1\n",
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {mint(keys, 'ES256')}"},
        )
    assert resp.status_code == 202


def test_symmetric_and_encryption_keys_in_a_jwks_never_verify(keys: SigningKeys) -> None:
    from connectors.http_push.jws import verify_jws

    jwks = keys.jwks()
    for k in jwks["keys"]:
        k["use"] = "enc"
    jwks["keys"].append({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"})
    keyset = KeySet.from_jwks(json.loads(json.dumps(jwks)))
    assert len(keyset) == 3  # the oct key is skipped
    with pytest.raises(AuthenticationError, match="no configured key"):
        verify_jws(mint(keys, "RS256"), keyset, algorithms=["RS256"])
