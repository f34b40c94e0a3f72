"""The documented command starts the service: ``python -m connectors.http_push serve ...``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.http_push import verify_receipt
from connectors.http_push.keys import key_from_jwk

from .helpers import AUDIENCE, ISSUER, SigningKeys, mint

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connectors.http_push", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_receipt_key_command_writes_a_private_key_once(tmp_path: Path) -> None:
    out = tmp_path / "receipt.pem"
    assert run_cli("receipt-key", "--out", str(out)).returncode == 0
    assert out.stat().st_mode & 0o077 == 0
    again = run_cli("receipt-key", "--out", str(out))
    assert again.returncode == 2
    assert "exists" in again.stderr


def test_serve_with_a_bad_config_exits_naming_the_field(tmp_path: Path) -> None:
    conf = tmp_path / "push.yaml"
    conf.write_text("landing_root: x\ndatasets: []\n")
    result = run_cli("serve", "--config", str(conf))
    assert result.returncode == 2
    assert "'datasets'" in result.stderr


@pytest.mark.network
@pytest.mark.slow
def test_serve_command_accepts_a_push_with_a_signed_receipt(
    tmp_path: Path, keys: SigningKeys
) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks()))
    assert run_cli("receipt-key", "--out", str(tmp_path / "receipt.pem")).returncode == 0
    conf = tmp_path / "push.yaml"
    conf.write_text(
        f"landing_root: landing\ndatasets: [orders]\nissuer: {ISSUER}\naudience: {AUDIENCE}\n"
        "jwks_file: jwks.json\nreceipt_signing_key: receipt.pem\n"
        "partners:\n  partner-a:\n    datasets: [orders]\n"
        "    keys: [{kid: rsa-1}, {kid: ec-1}, {kid: ed-1}]\n"
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.http_push",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(conf),
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.1)
        token = mint(keys)
        resp = httpx.post(
            f"{base}/v1/datasets/orders/batches",
            content=b"id\n1\n",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )
        assert resp.status_code == 202, resp.text
        jwk = httpx.get(f"{base}/v1/receipt-key").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    public = key_from_jwk(jwk).key
    assert verify_receipt(resp.json(), public)  # type: ignore[arg-type]
    assert (tmp_path / "landing" / "orders" / "batches" / resp.json()["file"]).exists()
    assert token not in (tmp_path / "serve.log").read_text()
