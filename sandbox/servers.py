"""Serve an ASGI app with uvicorn on a free loopback port, in a background thread.

The app is served as the production servers serve theirs (:mod:`connectors.http_push.serving`:
header, time and connection limits, no query strings in access logs).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    start_timeout_s: float = 20.0,
    limits: Any = None,
) -> Iterator[str]:
    """Run ``app`` for the duration of the block; yield its base URL (``http://127.0.0.1:port``).

    ``limits``: a :class:`~connectors.http_push.serving.ServerLimits` (default: its defaults).
    """
    import uvicorn

    from connectors.http_push.serving import ServerLimits, uvicorn_config

    port = port or free_port()
    config = uvicorn_config(app, limits=limits or ServerLimits(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server on {host}:{port} did not start within {start_timeout_s} s")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
