"""Pushing batches over real HTTP: what lands, what is refused, what the receipt says."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.http_push import PushSource, verify_receipt
from connectors.http_push.config import PushConfig
from connectors.http_push.receipts import ReceiptSigner

from .helpers import SigningKeys, landed_files, mint

pytestmark = pytest.mark.network

CSV = b'id,name,amount\n1,Ada,10.50\n2,"Lovelace, A",\n'


def headers(keys: SigningKeys, content_type: str = "text/csv", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(keys)}", "Content-Type": content_type, **extra}


def read_rows(cfg: PushConfig, dataset: str = "orders") -> list[dict[str, str | None]]:
    source = PushSource(name="push", dataset=dataset, landing_root=cfg.landing_root)
    rows: list[dict[str, str | None]] = []
    for obj in source.discover():
        for batch in source.read(obj):
            assert all(str(t) == "string" for t in batch.schema.types)
            rows.extend(batch.to_pylist())
    return rows


def test_pushed_csv_lands_with_a_receipt_and_reads_back_as_the_same_rows(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    resp = client.post("/v1/datasets/orders/batches", content=CSV, headers=headers(keys))
    assert resp.status_code == 202, resp.text
    receipt = resp.json()
    assert receipt["dataset"] == "orders"
    assert receipt["caller"] == "partner-a"
    assert receipt["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert receipt["bytes"] == len(CSV)
    assert receipt["content_type"] == "text/csv"
    assert datetime.fromisoformat(receipt["received_at"]).utcoffset().total_seconds() == 0
    batches = cfg.landing_root / "orders" / "batches"
    body = batches / f"{receipt['batch_id']}.csv"
    assert body.read_bytes() == CSV
    assert json.loads((batches / f"{receipt['batch_id']}.receipt.json").read_text()) == receipt
    assert "signature" not in receipt
    assert read_rows(cfg) == [
        {"id": "1", "name": "Ada", "amount": "10.50"},
        {"id": "2", "name": "Lovelace, A", "amount": None},
    ]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'[{"id": 1, "tags": ["a", 2.50], "ok": true}, {"id": 2, "x": null}]'),
        (
            "application/x-ndjson",
            b'{"id": 1, "tags": ["a", 2.50], "ok": true}\n{"id": 2, "x": null}\n',
        ),
    ],
)
def test_json_and_ndjson_bodies_read_back_as_string_columns(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, content_type: str, body: bytes
) -> None:
    client, cfg = service
    resp = client.post(
        "/v1/datasets/orders/batches", content=body, headers=headers(keys, content_type)
    )
    assert resp.status_code == 202, resp.text
    assert read_rows(cfg) == [
        {"id": "1", "tags": '["a",2.50]', "ok": "true", "x": None},
        {"id": "2", "tags": None, "ok": None, "x": None},
    ]


def test_gzip_body_is_stored_as_received_and_read_back_decoded(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    packed = gzip.compress(CSV)
    resp = client.post(
        "/v1/datasets/orders/batches",
        content=packed,
        headers=headers(keys, **{"Content-Encoding": "gzip"}),
    )
    assert resp.status_code == 202, resp.text
    receipt = resp.json()
    assert receipt["content_encoding"] == "gzip"
    assert receipt["sha256"] == hashlib.sha256(packed).hexdigest()
    assert receipt["decoded_sha256"] == hashlib.sha256(CSV).hexdigest()
    assert receipt["decoded_bytes"] == len(CSV)
    stored = cfg.landing_root / "orders" / "batches" / f"{receipt['batch_id']}.csv.gz"
    assert stored.read_bytes() == packed
    assert [r["name"] for r in read_rows(cfg)] == ["Ada", "Lovelace, A"]


def test_truncated_gzip_is_refused_with_400_and_lands_nothing(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    resp = client.post(
        "/v1/datasets/orders/batches",
        content=gzip.compress(CSV)[:-6],
        headers=headers(keys, **{"Content-Encoding": "gzip"}),
    )
    assert resp.status_code == 400
    assert "gzip" in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


def test_body_declared_over_the_limit_is_refused_with_413_before_reading(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    big = b"id\n" + b"1\n" * (cfg.max_body_bytes // 2 + 10)
    resp = client.post("/v1/datasets/orders/batches", content=big, headers=headers(keys))
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"
    assert landed_files(cfg.landing_root) == []


def test_streamed_body_over_the_limit_is_refused_with_413_while_streaming(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    chunk = b"1234567\n" * 1024  # 8 KiB, sent without a Content-Length

    def chunks():
        yield b"id\n"
        for _ in range(cfg.max_body_bytes // len(chunk) + 2):
            yield chunk

    resp = client.post("/v1/datasets/orders/batches", content=chunks(), headers=headers(keys))
    assert resp.status_code == 413
    assert str(cfg.max_body_bytes) in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


def test_gzip_bomb_over_the_decoded_limit_is_refused_with_413(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    bomb = gzip.compress(b"id\n" + b"0" * (cfg.max_decoded_bytes + 1))
    assert len(bomb) < cfg.max_body_bytes
    resp = client.post(
        "/v1/datasets/orders/batches",
        content=bomb,
        headers=headers(keys, **{"Content-Encoding": "gzip"}),
    )
    assert resp.status_code == 413
    assert "decompressed" in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/xml", None),
        (None, None),
        ("text/csv; charset=latin-1", None),
        ("text/csv", "br"),
    ],
)
def test_unsupported_content_type_or_encoding_is_refused_with_415(
    service: tuple[httpx.Client, PushConfig],
    keys: SigningKeys,
    content_type: str | None,
    encoding: str | None,
) -> None:
    client, cfg = service
    h = {"Authorization": f"Bearer {mint(keys)}"}
    if content_type:
        h["Content-Type"] = content_type
    if encoding:
        h["Content-Encoding"] = encoding
    resp = client.post("/v1/datasets/orders/batches", content=CSV, headers=h)
    assert resp.status_code == 415
    assert resp.json()["error"] == "unsupported_media_type"
    assert landed_files(cfg.landing_root) == []


def test_body_that_is_not_utf8_is_refused_with_400(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    resp = client.post(
        "/v1/datasets/orders/batches", content="id\nJosé\n".encode("latin-1"), headers=headers(keys)
    )
    assert resp.status_code == 400
    assert "UTF-8" in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


def test_caller_over_its_rate_gets_429_with_retry_after(
    make_config, run_service, keys: SigningKeys, keys_b: SigningKeys
) -> None:
    cfg = make_config(rate={"requests_per_s": 0.01, "burst": 2})
    with run_service(cfg) as url, httpx.Client(base_url=url) as client:
        codes = [
            client.post("/v1/datasets/orders/batches", content=CSV, headers=headers(keys))
            for _ in range(3)
        ]
        assert [r.status_code for r in codes] == [202, 202, 429]
        assert int(codes[2].headers["retry-after"]) >= 1
        assert codes[2].json()["error"] == "rate_limited"
        # Another partner has its own bucket.
        other = headers(keys_b)
        assert (
            client.post("/v1/datasets/orders/batches", content=CSV, headers=other).status_code
            == 202
        )
    assert (
        len(PushSource(name="p", dataset="orders", landing_root=cfg.landing_root).discover()) == 3
    )


def test_receipt_is_signed_when_a_signing_key_is_configured(
    make_config, run_service, keys: SigningKeys, tmp_path
) -> None:
    signer = ReceiptSigner(Ed25519PrivateKey.generate())
    with run_service(make_config(), signer=signer) as url, httpx.Client(base_url=url) as client:
        receipt = client.post(
            "/v1/datasets/orders/batches", content=CSV, headers=headers(keys)
        ).json()
        jwk = client.get("/v1/receipt-key").json()
    assert jwk["kid"] == receipt["signature_key_id"] == signer.key_id
    assert verify_receipt(receipt, signer.public_key)
    assert not verify_receipt({**receipt, "bytes": receipt["bytes"] + 1}, signer.public_key)


def test_healthz_needs_no_token_and_says_nothing_sensitive(
    service: tuple[httpx.Client, PushConfig],
) -> None:
    client, cfg = service
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert str(cfg.landing_root) not in resp.text


def test_openapi_document_describes_the_push_endpoint_auth_and_responses(
    service: tuple[httpx.Client, PushConfig],
) -> None:
    client, _ = service
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/v1/datasets/{dataset}/batches"]["post"]
    assert post["security"] == [{"bearerJWT": []}]
    assert doc["components"]["securitySchemes"]["bearerJWT"]["scheme"] == "bearer"
    assert {"202", "401", "403", "404", "413", "415", "422", "429"} <= set(post["responses"])
    assert set(post["requestBody"]["content"]) == {
        "text/csv",
        "application/json",
        "application/x-ndjson",
    }


def test_unknown_route_answers_json_404(service: tuple[httpx.Client, PushConfig]) -> None:
    client, _ = service
    resp = client.get("/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


def test_receipt_times_are_utc(service: tuple[httpx.Client, PushConfig], keys: SigningKeys) -> None:
    client, _ = service
    receipt = client.post("/v1/datasets/orders/batches", content=CSV, headers=headers(keys)).json()
    received = datetime.fromisoformat(receipt["received_at"])
    assert received.tzinfo is not None and received.utcoffset() == UTC.utcoffset(None)
