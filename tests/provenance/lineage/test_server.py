"""The lineage endpoint on loopback: any OpenLineage client posts events, queries read them back."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import schema_dataset
from openlineage.client.transport.http import HttpConfig, HttpTransport

from provenance.ledger import Ledger
from provenance.lineage import asset_event
from provenance.lineage.exceptions import LineageConfigError
from provenance.lineage.server import create_app, main
from provenance.lineage.server_config import LineageServerConfig
from provenance.lineage.validate import event_dict

from ...connectors.http_push.helpers import captured
from .lineage_helpers import AUDIENCE, ISSUER, TokenKeys, dagster_run, serve

pytestmark = pytest.mark.network


@pytest.fixture
def config(tmp_path: Path, spec_dir: Path, token_keys: TokenKeys) -> LineageServerConfig:
    return LineageServerConfig.from_dict(
        {
            "ledger_dir": str(tmp_path / "ledger"),
            "spec_dir": str(spec_dir),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "public_key_pems": [token_keys.public_pem()],
            "max_body_bytes": 64 * 1024,
        }
    )


@pytest.fixture
def url(config: LineageServerConfig) -> Iterator[str]:
    with serve(create_app(config)) as base:
        yield base


def _client(url: str, token: str, **http: Any) -> OpenLineageClient:
    """The openlineage-python client with its own HTTP transport, as an external producer."""
    config = HttpConfig.from_dict(
        {"url": url, "auth": {"type": "api_key", "apiKey": token}, "retry": {"total": 0}, **http}
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _spark_like_event(kind: str = "COMPLETE") -> RunEvent:
    """An event another producer would send: its own job namespace, S3 in, S3 out, a schema."""
    fields = [schema_dataset.SchemaDatasetFacetFields(name="sku", type="string")]
    return RunEvent(
        eventType=RunState(kind),
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="spark-prod", name="enrich_products"),
        inputs=[InputDataset("s3://partner-drop", "products/2026-11-02.parquet")],
        outputs=[
            OutputDataset(
                "s3://acme-lake",
                "silver/products",
                facets={"schema": schema_dataset.SchemaDatasetFacet(fields=fields)},
            )
        ],
    )


def _size(config: LineageServerConfig) -> int:
    if not (config.ledger_dir / "ledger.json").exists():
        return 0
    with Ledger.open(config.ledger_dir, read_only=True) as ledger:
        return ledger.size


def _get(url: str, token: str | None, query: str, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{url}/api/v1/lineage/{query}", params=params, timeout=10, headers=headers)


def test_an_external_producer_posts_with_the_openlineage_http_transport_and_queries_see_it(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    client = _client(url, token_keys.token(scope="lineage:write"))
    client.emit(_spark_like_event("START"))
    client.emit(_spark_like_event())
    ours = asset_event("COMPLETE", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    client.emit(ours)
    assert _size(config) == 3
    reader = token_keys.token(scope="lineage:read")
    answer = _get(url, reader, "upstream", dataset="s3://acme-lake/silver/products")
    assert answer.status_code == 200, answer.text
    assert [(d["namespace"], d["name"]) for d in answer.json()["datasets"]] == [
        ("s3://partner-drop", "products/2026-11-02.parquet")
    ]
    down = _get(
        url, reader, "downstream", namespace="s3://partner-drop", name="products/2026-11-02.parquet"
    )
    assert down.json()["datasets"][0]["name"] == "silver/products"
    runs = _get(url, reader, "runs", dataset="s3://acme-lake/silver/products").json()
    assert [r["job"] for r in runs["runs"]] == ["spark-prod/enrich_products"] * 2


def test_a_post_answers_201_with_the_ledger_index(url: str, token_keys: TokenKeys) -> None:
    event = event_dict(
        asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    )
    headers = {"Authorization": f"Bearer {token_keys.token()}"}
    for expected in (0, 1):
        response = httpx.post(f"{url}/api/v1/lineage", json=event, headers=headers, timeout=10)
        assert (response.status_code, response.json()) == (201, {"index": expected})


def test_an_invalid_event_gets_400_with_the_reason_and_nothing_is_appended(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    event = event_dict(_spark_like_event())
    event["run"]["runId"] = "run-42"
    event["outputs"][0]["facets"]["schema"]["fields"][0].pop("name")
    headers = {"Authorization": f"Bearer {token_keys.token()}"}
    response = httpx.post(f"{url}/api/v1/lineage", json=event, headers=headers, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_event"
    assert "$.run.runId" in body["detail"]
    assert any("$.outputs[0].facets.schema.fields[0]" in e for e in body["errors"])
    response = httpx.post(
        f"{url}/api/v1/lineage", content=b"{not json", headers=headers, timeout=10
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")
    with pytest.raises(requests.HTTPError, match="400"):
        _client(url, token_keys.token()).transport.emit(event)  # type: ignore[arg-type]
    assert _size(config) == 0


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        "foreign",
        "expired",
        "wrong-audience",
    ],
)
def test_a_missing_or_invalid_token_gets_401(
    url: str, config: LineageServerConfig, token_keys: TokenKeys, token: str | None
) -> None:
    bearer = {
        None: None,
        "not-a-jwt": "not-a-jwt",
        "foreign": token_keys.token(foreign=True),
        "expired": token_keys.token(exp=1_000_000, iat=999_000),
        "wrong-audience": token_keys.token(aud="someone-else"),
    }[token]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    event = event_dict(_spark_like_event())
    response = httpx.post(f"{url}/api/v1/lineage", json=event, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "Bearer" in response.headers["www-authenticate"]
    assert _get(url, bearer, "upstream", dataset="/x").status_code == 401
    if bearer:
        assert bearer not in response.text  # tokens are never echoed
        with pytest.raises(requests.HTTPError, match="401"):
            _client(url, bearer).emit(_spark_like_event())
    assert _size(config) == 0


def test_scopes_separate_writing_from_reading(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    event = event_dict(_spark_like_event())
    reader = token_keys.token(scope="lineage:read")
    response = httpx.post(
        f"{url}/api/v1/lineage",
        json=event,
        timeout=10,
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    writer = token_keys.token(scope="lineage:write push:orders")
    assert _get(url, writer, "upstream", dataset="/x").status_code == 403
    assert _get(url, token_keys.token(scope=None), "upstream", dataset="/x").status_code == 403
    assert _size(config) == 0


def test_queries_answer_404_for_unknown_datasets_and_400_for_bad_parameters(
    url: str, token_keys: TokenKeys
) -> None:
    token = token_keys.token()
    _client(url, token).emit(_spark_like_event())
    assert _get(url, token, "upstream", dataset="/nowhere").status_code == 404
    assert _get(url, token, "sideways", dataset="/x").status_code == 404
    assert _get(url, token, "upstream").status_code == 400
    assert _get(url, token, "upstream", dataset="/x", depth="deep").status_code == 400
    no_column = _get(url, token, "columns", dataset="s3://acme-lake/silver/products")
    assert (no_column.status_code, no_column.json()["error"]) == (400, "invalid_query")
    columns = _get(url, token, "columns", dataset="s3://acme-lake/silver/products", column="sku")
    assert columns.status_code == 200 and columns.json()["upstream"] == []


def test_gzip_bodies_are_accepted_and_oversized_ones_refused(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    _client(url, token_keys.token(), compression="gzip").emit(_spark_like_event())
    assert _size(config) == 1
    event = event_dict(_spark_like_event())
    event["job"]["facets"] = {
        "documentation": {
            "_producer": "https://x",
            "_schemaURL": "https://x/d.json",
            "description": "x" * (config.max_body_bytes + 1),
        }
    }
    headers = {
        "Authorization": f"Bearer {token_keys.token()}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    response = httpx.post(
        f"{url}/api/v1/lineage",
        timeout=10,
        headers=headers,
        content=gzip.compress(json.dumps(event).encode()),
    )
    assert response.status_code == 413  # small on the wire, too large decoded
    truncated = gzip.compress(json.dumps(event_dict(_spark_like_event())).encode())[:-12]
    response = httpx.post(f"{url}/api/v1/lineage", timeout=10, headers=headers, content=truncated)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_gzip")
    response = httpx.post(
        f"{url}/api/v1/lineage",
        timeout=10,
        content="<event/>",
        headers={
            "Authorization": f"Bearer {token_keys.token()}",
            "Content-Type": "application/xml",
        },
    )
    assert response.status_code == 415
    assert _size(config) == 1


def test_health_needs_no_token(url: str) -> None:
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issuer": ""}, "issuer"),
        ({"public_key_pems": []}, "no token verification keys"),
        ({"algorithms": ["HS256"]}, "algorithms"),
        ({"jwks_url": "http://idp.example.com/jwks"}, "jwks_url"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"listen": "0.0.0.0"}, "unknown field"),
    ],
)
def test_a_bad_server_config_fails_at_start_naming_the_field(
    tmp_path: Path, token_keys: TokenKeys, change: dict[str, Any], field: str
) -> None:
    data = {
        "ledger_dir": "ledger",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "public_key_pems": [token_keys.public_pem()],
        **change,
    }
    with pytest.raises(LineageConfigError, match=field):
        LineageServerConfig.from_dict(data, base_dir=tmp_path)


def test_the_command_refuses_a_bad_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lineage.yaml"
    path.write_text("ledger_dir: ledger\nissuer: https://idp\n", encoding="utf-8")
    assert main(["--config", str(path)]) == 2
    assert "audience" in capsys.readouterr().err
    with pytest.raises(LineageConfigError, match="cannot be read"):
        LineageServerConfig.from_yaml(tmp_path / "missing.yaml")


def test_every_gzip_member_is_read_and_the_decoded_cap_spans_them(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    body = json.dumps(event_dict(_spark_like_event())).encode()
    half = len(body) // 2
    two_members = gzip.compress(body[:half]) + gzip.compress(body[half:])
    headers = {
        "Authorization": f"Bearer {token_keys.token()}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    response = httpx.post(f"{url}/api/v1/lineage", content=two_members, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (201, {"index": 0})
    with Ledger.open(config.ledger_dir, read_only=True) as ledger:
        assert ledger.size == 1
    # Each member alone is under the cap; together they are over it.
    filler = b" " * (config.max_body_bytes // 2 + 10)
    over = gzip.compress(body[:half] + filler) + gzip.compress(filler + body[half:])
    response = httpx.post(f"{url}/api/v1/lineage", content=over, headers=headers, timeout=10)
    assert response.status_code == 413
    garbage_after = gzip.compress(body) + b"not gzip at all"
    response = httpx.post(f"{url}/api/v1/lineage", content=garbage_after, headers=headers, timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_gzip")
    assert _size(config) == 1


def test_a_deeply_nested_event_gets_400_not_500(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    headers = {"Authorization": f"Bearer {token_keys.token()}", "Content-Type": "application/json"}
    for depth in (100, 10_000):
        body = '{"x":' * depth + "1" + "}" * depth
        response = httpx.post(f"{url}/api/v1/lineage", content=body, headers=headers, timeout=10)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": "invalid_json",
            "detail": "the event nests deeper than 64 levels",
        }
    assert _size(config) == 0


def test_hostile_tokens_are_refused_and_query_strings_never_logged(
    url: str, config: LineageServerConfig, token_keys: TokenKeys
) -> None:
    token = token_keys.token()
    event = event_dict(_spark_like_event())
    now = int(time.time())
    refused = {
        "two headers": [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")],
        "NaN expiry": [("Authorization", f"Bearer {token_keys.token(exp=float('nan'))}")],
        "ten-year token": [("Authorization", f"Bearer {token_keys.token(exp=now + 10 * 365 * 86400)}")],
    }
    with captured("uvicorn", "uvicorn.access", "provenance", "connectors") as server_side:
        for why, headers in refused.items():
            response = httpx.post(f"{url}/api/v1/lineage", json=event, headers=headers, timeout=10)
            assert response.status_code == 401, why
        in_url = httpx.get(
            f"{url}/api/v1/lineage/upstream", params={"dataset": "/x", "access_token": token}, timeout=10
        )
        assert in_url.status_code == 401
        assert "URL" in in_url.json()["detail"]
    assert any("/api/v1/lineage/upstream?[redacted]" in line for line in server_side), server_side
    assert not [line for line in server_side if token.split(".")[2] in line]
    assert _size(config) == 0


@pytest.mark.slow
def test_the_server_command_limits_header_size_and_header_time(
    tmp_path: Path, spec_dir: Path, token_keys: TokenKeys
) -> None:
    config = tmp_path / "lineage.yaml"
    config.write_text(
        json.dumps(
            {
                "ledger_dir": "ledger",
                "spec_dir": str(spec_dir),
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "public_key_pems": [token_keys.public_pem()],
                "server": {"header_timeout_s": 1, "max_header_bytes": 8192},
            }
        )
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provenance.lineage.server", "--config", str(config), "--port", str(port)],
            cwd=Path(__file__).resolve().parents[3], stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        flood = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: " + b"a" * (1 << 20) + b"\r\n\r\n"
        assert _raw(port, flood).startswith(b"HTTP/1.1 431 ")
        assert _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
        secret = token_keys.token()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz?access_token={secret}", timeout=5).is_success
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = log.read_text()
    assert "/healthz?[redacted]" in text
    assert secret.split(".")[2] not in text


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the server may answer while the flood is being sent
            sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
