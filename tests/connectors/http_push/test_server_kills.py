"""The push server killed (SIGKILL) while landing a batch: a retry with the same key lands it once.

The server runs with the documented command; a fault point kills it at each moment of the write
path. The partner saw no answer, so it retries with the same Idempotency-Key against the restarted
server and must get one batch, pending once, whatever the moment was.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.http_push import Landing

from .helpers import SigningKeys, mint

pytestmark = [pytest.mark.network, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
BODY = b"id,amount\n1,10.50\n2,3\n"


def _start(conf: Path, port: int, log: Path, faults: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_FAULTS")}
    if faults:
        env |= {"MAESTRO_FAULTS": f"{faults}=kill", "MAESTRO_FAULTS_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.http_push", "serve", "--port", str(port), "--config", str(conf)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "the push server did not start"
            time.sleep(0.1)


@pytest.mark.parametrize(
    "point",
    ["push.landing.after_idempotency_record", "push.landing.after_body", "push.landing.after_receipt"],
)
def test_a_retry_after_the_server_was_killed_mid_landing_lands_the_batch_once(
    tmp_path: Path, keys: SigningKeys, point: str
) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks()))
    conf = tmp_path / "push.yaml"
    conf.write_text(
        "landing_root: landing\ndatasets: [orders]\nissuer: https://idp.test.example\n"
        "audience: maestro-push\njwks_file: jwks.json\n"
        "partners: {partner-a: {datasets: [orders], keys: [{kid: rsa-1}, {kid: ec-1}, {kid: ed-1}]}}\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/datasets/orders/batches"
    log = tmp_path / "faults.log"

    def push() -> httpx.Response:
        headers = {"Authorization": f"Bearer {mint(keys)}", "Content-Type": "text/csv",
                   "Idempotency-Key": "orders-2026-11-03"}
        return httpx.post(url, content=BODY, headers=headers, timeout=10)

    proc = _start(conf, port, log, point)
    try:
        with pytest.raises(httpx.TransportError):
            push()  # the server dies before answering
        assert proc.wait(timeout=10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(log.read_text())["point"] == point

    proc = _start(conf, port, log, None)
    try:
        first, again = push(), push()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert first.status_code == again.status_code == 202, first.text
    assert again.json() == first.json()
    [batch] = Landing(tmp_path / "landing").pending("orders")
    assert batch.batch_id == first.json()["batch_id"]
    assert batch.path.read_bytes() == BODY
