"""A fault-injecting HTTP proxy in front of a real S3 endpoint (moto on loopback).

Clients (delta-rs, boto3) talk to the proxy exactly as to S3; the proxy forwards every request
upstream and, when a rule matches, breaks the exchange the way networks and object stores do:

- ``lost_response``: forward the request (so a PUT *lands*), then answer ``500 InternalError``
  instead of the real response — an ambiguous commit, the client cannot know it succeeded;
- ``reset_after``: forward, then close the connection without answering;
- ``truncate``: forward, answer with the real status and ``Content-Length`` but only half the body,
  then close (a truncated response body);
- ``reset_before``: close the connection without forwarding (nothing reached the store);
- ``error_500``: answer ``500`` without forwarding.

A :class:`Rule` matches by method and a regular expression on the path (``/bucket/key``), fires on
its ``nth`` match or with a ``probability`` (seeded, so a campaign is repeatable), at most ``times``
times. Every fault injected is recorded in :attr:`S3FaultProxy.injected` (method, path, action), so
a test states exactly which requests it broke.

delta-rs holds the GIL while it waits on the network (``DeltaTable.history()`` does), so a proxy
thread in the same process could not answer it: :func:`fault_proxy_process` runs the proxy in a
child process whose rules are a JSON file (re-read when it changes) and whose injected faults are
appended to a JSON-lines log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ACTIONS = ("lost_response", "reset_after", "truncate", "reset_before", "error_500")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


@dataclass
class Rule:
    action: str
    method: str = ".*"
    path: str = ".*"
    nth: int | None = None
    probability: float | None = None
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; one of {ACTIONS}")

    def fires(self, method: str, path: str, rng: random.Random) -> bool:
        if not re.fullmatch(self.method, method) or not re.search(self.path, path):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.seen += 1
        if self.nth is not None:
            hit = self.seen == self.nth
        elif self.probability is not None:
            hit = rng.random() < self.probability
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit


@dataclass
class S3FaultProxy:
    """Run with ``with S3FaultProxy(upstream) as proxy:``; point clients at ``proxy.endpoint_url``."""

    upstream: str
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        up = urlsplit(self.upstream)
        self._host, self._port = up.hostname or "127.0.0.1", up.port or 80
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, action: str, **match: Any) -> Rule:
        rule = Rule(action, **match)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    rules_file: str | None = None
    log_file: str | None = None

    def _reload(self) -> None:
        """Rules from ``rules_file`` when it changed since the last request (counters restart)."""
        if not self.rules_file:
            return
        try:
            mtime = os.stat(self.rules_file).st_mtime_ns
        except FileNotFoundError:
            mtime = -1
        if mtime == getattr(self, "_rules_mtime", None):
            return
        self._rules_mtime = mtime
        raw = json.loads(Path(self.rules_file).read_text()) if mtime >= 0 else []
        if isinstance(raw, dict):  # {"seed": n, "rules": [...]}
            self._rng = random.Random(raw.get("seed", self.seed))
            raw = raw.get("rules", [])
        self.rules = [Rule(**r) for r in raw]

    def _decide(self, method: str, path: str) -> str | None:
        with self._lock:
            self._reload()
            self.requests += 1
            for rule in self.rules:
                if rule.fires(method, path, self._rng):
                    event = {"method": method, "path": path, "action": rule.action}
                    self.injected.append(event)
                    if self.log_file:
                        with open(self.log_file, "a") as log:
                            log.write(json.dumps(event) + "\n")
                    return rule.action
        return None

    def __enter__(self) -> S3FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _handle(self) -> None:
                body = self._body()
                action = proxy._decide(self.command, self.path.split("?", 1)[0])
                if action == "reset_before":
                    return self._drop()
                if action == "error_500":
                    return self._send(500, [("Content-Type", "application/xml")], _ERROR_BODY)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy._host, proxy._port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, resp_headers = resp.status, resp.getheaders()
                finally:
                    conn.close()
                if action == "lost_response":
                    return self._send(500, [("Content-Type", "application/xml")], _ERROR_BODY)
                if action == "reset_after":
                    return self._drop()
                kept = [(k, v) for k, v in resp_headers if k.lower() not in _HOP | {"content-length"}]
                if action == "truncate" and len(data) > 1:
                    self.send_response(status)
                    for k, v in kept:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self._drop()
                self._send(status, kept, data)

            def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request (the harness does that) is not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextlib.contextmanager
def fault_proxy_process(upstream: str, rules_file: Path, log_file: Path, *, seed: int = 0) -> Iterator[str]:
    """Run the proxy in a child process; yield its endpoint URL. Write rules to ``rules_file``
    (a JSON list of :class:`Rule` fields) at any time; read injected faults from ``log_file``."""
    cmd = [sys.executable, "-m", "tests.harness.s3_faults", upstream, str(rules_file), str(log_file)]
    cmd.append(str(seed))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"S3 fault proxy did not start (said {port!r})")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def injected_faults(log_file: Path) -> list[dict[str, Any]]:
    if not log_file.exists():
        return []
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]


def _main(argv: list[str]) -> None:
    upstream, rules_file, log_file, seed = argv
    proxy = S3FaultProxy(upstream, seed=int(seed), rules_file=rules_file, log_file=log_file)
    with proxy:
        print(proxy.endpoint_url.rsplit(":", 1)[1], flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    _main(sys.argv[1:])
