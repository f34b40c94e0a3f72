"""Idempotency-Key over real HTTP: one batch per (caller, dataset, key), across restarts."""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.http_push import Landing, PushSource
from connectors.http_push.config import PushConfig

from .helpers import SigningKeys, mint

pytestmark = pytest.mark.network

CSV = b"id\n1\n2\n"


def post(
    client: httpx.Client, keys: SigningKeys, body: bytes = CSV, *, key: str = "k-1"
) -> httpx.Response:
    return client.post(
        "/v1/datasets/orders/batches",
        content=body,
        headers={
            "Authorization": f"Bearer {mint(keys)}",
            "Content-Type": "text/csv",
            "Idempotency-Key": key,
        },
    )


def pending(cfg: PushConfig) -> list[str]:
    return [b.batch_id for b in Landing(cfg.landing_root).pending("orders")]


def test_retried_push_with_the_same_key_returns_the_first_receipt_and_lands_one_batch(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    first, second = post(client, keys), post(client, keys)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["idempotency-replayed"] == "true"
    assert pending(cfg) == [first.json()["batch_id"]]


def test_same_key_with_a_different_body_is_refused_with_422(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    assert post(client, keys).status_code == 202
    resp = post(client, keys, b"id\n3\n")
    assert resp.status_code == 422
    assert resp.json()["error"] == "idempotency_key_reused"
    assert len(pending(cfg)) == 1


def test_same_key_from_another_partner_is_a_different_batch(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, keys_b: SigningKeys
) -> None:
    client, cfg = service
    a, b = post(client, keys), post(client, keys_b)
    assert a.status_code == b.status_code == 202
    assert a.json()["batch_id"] != b.json()["batch_id"]
    assert len(pending(cfg)) == 2


def test_same_key_replays_after_the_service_restarts(
    make_config, run_service, keys: SigningKeys
) -> None:
    cfg = make_config()
    with run_service(cfg) as url, httpx.Client(base_url=url) as client:
        first = post(client, keys)
    with run_service(cfg) as url, httpx.Client(base_url=url) as client:
        again = post(client, keys)
        conflict = post(client, keys, b"id\n9\n")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert conflict.status_code == 422
    assert pending(cfg) == [first.json()["batch_id"]]


def test_replay_still_answers_after_the_batch_was_processed(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    first = post(client, keys).json()
    Landing(cfg.landing_root).mark_processed("orders", first["batch_id"])
    assert post(client, keys).json() == first
    assert pending(cfg) == []


def test_retry_completes_a_first_attempt_that_crashed_before_its_receipt(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    first = post(client, keys).json()
    # Simulate a crash between landing the body and writing its receipt.
    receipt = cfg.landing_root / "orders" / "batches" / f"{first['batch_id']}.receipt.json"
    receipt.unlink()
    assert pending(cfg) == []
    assert post(client, keys).json() == first
    assert json.loads(receipt.read_text()) == first
    source = PushSource(name="p", dataset="orders", landing_root=cfg.landing_root)
    assert [o.cursor for o in source.discover()] == [first["batch_id"]]


def test_retry_lands_the_body_when_the_first_attempt_crashed_before_landing_it(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    first = post(client, keys).json()
    batches = cfg.landing_root / "orders" / "batches"
    # Simulate a crash after the idempotency record, before the body was renamed into place.
    for p in batches.iterdir():
        p.unlink()
    again = post(client, keys).json()
    assert again["batch_id"] == first["batch_id"]
    assert pending(cfg) == [first["batch_id"]]
    assert (batches / again["file"]).read_bytes() == CSV


def test_malformed_idempotency_key_is_refused_with_400(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    resp = post(client, keys, key="x" * 300)
    assert resp.status_code == 400
    assert pending(cfg) == []


def test_concurrent_pushes_with_the_same_key_land_one_batch(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, cfg = service
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(client, keys, key="same"), range(8)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["batch_id"] for r in responses}) == 1
    assert len(pending(cfg)) == 1
