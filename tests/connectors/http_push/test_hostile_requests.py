"""Hostile requests against the real push server: clear 4xx answers, never a 500, nothing logged."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from connectors.http_push.config import PushConfig

from .helpers import SigningKeys, b64url, captured, landed_files, mint, raw_claims, sign_raw

pytestmark = pytest.mark.network

CSV = b"id\n1\n"


def raw_exchange(base_url: str, data: bytes, *, read_timeout: float = 5) -> bytes:
    """Send ``data`` on a fresh socket and return everything the server answers until it closes."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_two_authorization_headers_are_refused(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys, keys_b: SigningKeys
) -> None:
    client, cfg = service
    resp = client.post(
        "/v1/datasets/orders/batches",
        content=CSV,
        headers=[
            ("Content-Type", "text/csv"),
            ("Authorization", f"Bearer {mint(keys_b)}"),
            ("Authorization", f"Bearer {mint(keys)}"),
        ],
    )
    assert resp.status_code == 401
    assert "2 Authorization headers" in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


def test_deeply_nested_token_gets_401_not_500_before_any_key_is_touched(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    header = b64url(('{"alg":"EdDSA","x":' + "[" * 5000 + "]" * 5000 + "}").encode())
    nested_header = f"{header}.{b64url(b'{}')}.{b64url(b'x' * 64)}"
    nested_claims = sign_raw(keys, raw_claims(extra="{" + '"a":{' * 40 + "}" * 41))
    for token in (nested_header, nested_claims):
        resp = client.post(
            "/v1/datasets/orders/batches",
            content=CSV,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )
        assert resp.status_code == 401, resp.text
        assert "nests deeper than" in resp.json()["detail"]
    assert landed_files(cfg.landing_root) == []


def test_tokens_with_nan_infinite_or_huge_lifetimes_are_refused_over_http(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    now = int(time.time())
    for token in (
        sign_raw(keys, raw_claims(exp="NaN")),
        sign_raw(keys, raw_claims(exp="1e400")),
        mint(keys, iat=now, exp=now + 10 * 365 * 86400),
    ):
        resp = client.post(
            "/v1/datasets/orders/batches",
            content=CSV,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )
        assert resp.status_code == 401
    assert landed_files(cfg.landing_root) == []


def test_a_token_in_the_query_string_is_refused_and_never_logged(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    token = mint(keys)
    with captured("uvicorn", "uvicorn.access", "connectors") as server_side:
        resp = client.post(
            f"/v1/datasets/orders/batches?access_token={token}",
            content=CSV,
            headers={"Content-Type": "text/csv"},
        )
        assert client.get(f"/healthz?token={token}").status_code == 200
    assert resp.status_code == 401
    assert "URL" in resp.json()["detail"]
    assert any('"GET /healthz?[redacted] HTTP/1.1" 200' in line for line in server_side), server_side
    assert not [line for line in server_side if token.split(".")[2] in line]
    assert landed_files(cfg.landing_root) == []


def test_headers_over_the_limit_get_431_without_being_buffered(
    service: tuple[httpx.Client, PushConfig],
) -> None:
    client, cfg = service
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: " + b"a" * (cfg.server.max_header_bytes + 1)
    answer = raw_exchange(str(client.base_url), head + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"headers_too_large"' in answer and str(cfg.server.max_header_bytes).encode() in answer
    assert client.get("/healthz").status_code == 200


def test_a_request_head_sent_too_slowly_gets_408_and_the_connection_is_closed(
    make_config, run_service
) -> None:
    cfg = make_config(server={"header_timeout_s": 1})
    with run_service(cfg) as url:
        parts = urlsplit(url)
        started = time.monotonic()
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            for piece in (b"POST /v1/datasets/orders/batches HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n"):
                sock.sendall(piece)  # slowloris: a little at a time, never the end of the head
                time.sleep(0.4)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"within 1.0 s" in answer
    assert elapsed < 5  # generous: the limit is 1 s from the connection, not from the last byte


def test_a_malformed_request_line_gets_a_json_400(service: tuple[httpx.Client, PushConfig]) -> None:
    client, _ = service
    answer = raw_exchange(str(client.base_url), b"GARBAGE\x00 / HTTP/9\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"invalid_request"' in answer


def test_a_body_the_answer_did_not_need_is_not_mistaken_for_a_huge_header(
    service: tuple[httpx.Client, PushConfig], keys: SigningKeys
) -> None:
    client, cfg = service
    big = b"id\n" + b"1\n" * (3 * cfg.server.max_header_bytes)  # refused before it is read
    for _ in range(3):  # the same keep-alive connection, or a fresh one: never a 431
        resp = client.post("/v1/datasets/orders/batches", content=big, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 401
    ok = client.post(
        "/v1/datasets/orders/batches",
        content=CSV,
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {mint(keys)}"},
    )
    assert ok.status_code == 202
