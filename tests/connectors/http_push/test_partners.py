"""Keys bound to partners, over real HTTP: a partner's key can only ever act as that partner."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.http_push import Landing
from connectors.http_push.app import create_app
from connectors.http_push.config import PushConfig
from connectors.http_push.exceptions import PushConfigError

from .helpers import SigningKeys, landed_files, mint

pytestmark = pytest.mark.network

CSV = b"id,amount\n1,10.50\n"


def push(
    client: httpx.Client, token: str, dataset: str = "orders", *, key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(f"/v1/datasets/{dataset}/batches", content=CSV, headers=headers)


def test_a_key_of_partner_a_cannot_pose_as_partner_b(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, caplog: pytest.LogCaptureFixture
) -> None:
    client, cfg = service
    with caplog.at_level(logging.INFO):
        resp = push(client, mint(keys, sub="partner-b"))
    assert resp.status_code == 401
    detail = resp.json()["detail"]
    assert "'partner-b'" in detail and "'partner-a'" in detail and "bound" in detail
    assert landed_files(cfg.landing_root) == []


def test_a_partner_cannot_push_to_another_partners_dataset_even_if_its_token_says_so(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, keys_b: SigningKeys
) -> None:
    client, cfg = service
    for token in (mint(keys, scope="push:payments"), mint(keys, scope=None, datasets=["payments"])):
        resp = push(client, token, "payments")
        assert resp.status_code == 403
        assert "partner 'partner-a' may not push to dataset 'payments'" in resp.json()["detail"]
    assert landed_files(cfg.landing_root, "payments") == []
    assert push(client, mint(keys_b, scope="push:payments"), "payments").status_code == 202


def test_token_claims_narrow_the_binding_and_no_claims_means_the_whole_binding(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, _ = service
    narrow = mint(keys, scope="push:customers")
    assert push(client, narrow, "orders").status_code == 403
    assert push(client, narrow, "customers").status_code == 202
    whole = mint(keys, scope=None)
    assert push(client, whole, "orders").status_code == 202
    assert push(client, whole, "customers").status_code == 202
    assert push(client, whole, "payments").status_code == 403


def test_partner_a_cannot_take_partner_bs_idempotency_key(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, keys_b: SigningKeys
) -> None:
    client, cfg = service
    # A uses B's key first: in A's own namespace.
    first = push(client, mint(keys), key="b-2026-11-03")
    assert first.status_code == 202
    assert push(client, mint(keys, sub="partner-b"), key="b-2026-11-03").status_code == 401
    # B's real push with that key is B's own batch, not a 422 or A's receipt.
    real = push(client, mint(keys_b), key="b-2026-11-03")
    assert real.status_code == 202, real.text
    assert real.json()["caller"] == "partner-b"
    assert real.json()["batch_id"] != first.json()["batch_id"]
    assert "idempotency-replayed" not in real.headers
    callers = sorted(b.receipt.caller for b in Landing(cfg.landing_root).pending("orders"))
    assert callers == ["partner-a", "partner-b"]


def test_rate_limits_are_per_bound_partner_and_cannot_be_dodged_by_changing_sub(
    make_config, run_service, keys: SigningKeys, keys_b: SigningKeys
) -> None:
    cfg = make_config(rate={"requests_per_s": 0.01, "burst": 2})
    with run_service(cfg) as url, httpx.Client(base_url=url) as client:
        assert [push(client, mint(keys)).status_code for _ in range(3)] == [202, 202, 429]
        for sub in ("partner-b", "partner-c", "someone"):
            assert push(client, mint(keys, sub=sub)).status_code == 401
        assert push(client, mint(keys)).status_code == 429
        assert push(client, mint(keys_b)).status_code == 202


def test_receipt_and_logs_name_the_bound_partner(
    service: tuple[httpx.Client, PushConfig], keys_b: SigningKeys, caplog: pytest.LogCaptureFixture
) -> None:
    client, cfg = service
    with caplog.at_level(logging.INFO, logger="connectors.http_push"):
        resp = push(client, mint(keys_b, "EdDSA"))
    assert resp.status_code == 202
    receipt = resp.json()
    assert receipt["caller"] == "partner-b"
    landed = cfg.landing_root / "orders" / "batches" / f"{receipt['batch_id']}.receipt.json"
    assert json.loads(landed.read_text())["caller"] == "partner-b"
    assert any("'partner-b'" in r.getMessage() and "202" in r.getMessage() for r in caplog.records)


def test_a_jwks_url_key_no_partner_lists_verifies_nothing(
    make_config, run_service, keys: SigningKeys, tmp_path: Path
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .helpers import serve

    stranger = SigningKeys.generate(prefix="x-", subject="stranger")
    idp = Starlette(routes=[Route("/jwks", lambda request: JSONResponse(stranger.jwks()))])
    with serve(idp) as idp_url:
        cfg = make_config(jwks_url=f"{idp_url}/jwks")
        with run_service(cfg) as url, httpx.Client(base_url=url) as client:
            resp = push(client, mint(stranger, "EdDSA"))
            assert resp.status_code == 401
            assert "bound to no partner" in resp.json()["detail"]
            assert push(client, mint(keys, "EdDSA")).status_code == 202  # static keys still work


def _pem(keys: SigningKeys, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(keys.ed.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return str(path)


def test_a_jwks_file_key_bound_to_no_partner_stops_start_up_naming_it(
    make_config, keys: SigningKeys
) -> None:
    partners = {"partner-a": {"datasets": ["orders"], "keys": [{"kid": "rsa-1"}]}}
    with pytest.raises(PushConfigError, match=r"key 'ec-1' of the jwks_file is bound to no partner"):
        create_app(make_config(partners=partners))


def test_the_same_public_key_bound_to_two_partners_stops_start_up(
    make_config, keys: SigningKeys, tmp_path: Path
) -> None:
    pem = _pem(keys, tmp_path, "a.pem")
    partners = {
        "partner-a": {"datasets": ["orders"], "keys": [{"pem": pem}]},
        "partner-b": {"datasets": ["orders"], "keys": [{"pem": _pem(keys, tmp_path, "copy.pem")}]},
    }
    with pytest.raises(PushConfigError, match="bound to partners 'partner-a' and 'partner-b'"):
        create_app(make_config(jwks_file=None, partners=partners))
    # The same key as a PEM of one partner and a kid of another is caught too.
    partners = {
        "partner-a": {"datasets": ["orders"], "keys": [{"kid": k} for k in keys.kids]},
        "partner-b": {"datasets": ["orders"], "keys": [{"pem": pem}]},
        "partner-c": {"datasets": ["orders"], "keys": [{"kid": f"b-{k}"} for k in keys.kids]},
    }
    with pytest.raises(PushConfigError, match="'partner-b' and 'partner-a'"):
        create_app(make_config(partners=partners))


def test_a_kid_that_no_key_carries_stops_start_up(make_config, keys: SigningKeys, keys_b) -> None:
    from .conftest import partners as both

    partners = both(keys, keys_b)
    partners["partner-a"]["keys"].append({"kid": "rsa-9"})
    with pytest.raises(PushConfigError, match=r"\['rsa-9'\] are in no key of the jwks_file"):
        create_app(make_config(partners=partners))
