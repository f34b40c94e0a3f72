"""Serving an ASGI app to the open network: one set of limits and rules for both HTTP servers.

The push endpoint (:mod:`connectors.http_push.app`) and the lineage endpoint
(:mod:`provenance.lineage.server`) accept requests from anyone who can reach them, before anyone
is authenticated. What they share is here, so there is one rule and one translation:

- :class:`ServerLimits` (the ``server:`` section of both configs) and :func:`uvicorn_config`,
  which runs uvicorn with :class:`GuardedProtocol`, uvicorn's h11 protocol with limits on what an
  unauthenticated peer may cost:

  - **header bytes**: a request head (request line + headers) over ``max_header_bytes`` is
    answered ``431`` and the connection closed, as soon as that many bytes arrived without the
    blank line that ends a head: nothing more is buffered;
  - **header time**: a head not complete ``header_timeout_s`` after the connection opened (or after
    the previous response) is answered ``408`` and closed, however slowly its bytes trickle in
    (slowloris); an upload that sends nothing for ``body_idle_timeout_s`` is closed;
  - **connections**: at most ``max_connections`` are open, and fewer if the process's file
    descriptor limit is lower (room is kept for accepting, the landing files and the logs). When a
    new connection would cross the cap, the connection that has waited longest *without a
    complete request head* (a half-sent request or an idle keep-alive) is closed to make room; a
    connection whose request is being served is never evicted. So hundreds of stalled or
    half-sent connections cannot lock a partner out: its connection sends a complete head at
    once and is served.

  Memory for the connections is bounded by about ``max_connections x (max_header_bytes + 16 KiB)``
  on top of the process's baseline. The asyncio event loop is used (not uvloop): when the
  process runs out of descriptors, libuv drops connections waiting in the accept queue, asyncio
  only pauses accepting for a second.
- Access logs never carry query strings (:func:`redact_access_log`): a token sent in the URL by
  mistake must not end up in a log file. Our own log lines never name tokens or headers.
- :func:`authorization_header`: exactly one ``Authorization`` header, or 401; and
  :func:`auth_refusal`, the one translation of authentication errors into responses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from connectors.http_push.exceptions import AuthenticationError, KeysUnavailableError

log = logging.getLogger(__name__)

#: Connections accepted in one go (and the listen backlog); they hold descriptors before the cap
#: applies to them, so the cap leaves room for them.
ACCEPT_BATCH = 128
#: Descriptors kept free for everything but connections: landing files, logs, the loop itself.
FD_RESERVE = 160
#: After refusing a request before reading all of it, input is drained this long, this much.
DRAIN_S = 1.0
DRAIN_BYTES = 1 << 20


@dataclass(frozen=True)
class ServerLimits:
    """What an unauthenticated peer may cost the server (see the module docstring)."""

    max_header_bytes: int = 32 * 1024
    header_timeout_s: float = 10.0
    body_idle_timeout_s: float = 60.0
    max_connections: int = 1000
    keep_alive_s: float = 5.0

    @classmethod
    def from_dict(cls, value: Any, fail: Callable[[str, str], Exception]) -> ServerLimits:
        """Validate the ``server:`` section; ``fail(field, problem)`` builds the config error."""
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise fail("server", f"expected a mapping of limits, got {value!r}")
        bounds: dict[str, tuple[float, float]] = {
            "max_header_bytes": (4096, 1 << 20),
            "header_timeout_s": (0.5, 300),
            "body_idle_timeout_s": (1, 3600),
            "max_connections": (8, 1_000_000),
            "keep_alive_s": (0.5, 300),
        }
        unknown = sorted(set(value) - set(bounds))
        if unknown:
            raise fail("server", f"unknown key(s) {unknown}; expected some of {sorted(bounds)}")
        kw: dict[str, Any] = {}
        for name, (low, high) in bounds.items():
            if name not in value:
                continue
            v = value[name]
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
                raise fail(f"server.{name}", f"expected a number between {low} and {high}, got {v!r}")
            kw[name] = int(v) if name in ("max_header_bytes", "max_connections") else float(v)
        return cls(**kw)

    def connection_cap(self, nofile: int | None = None) -> int:
        """``max_connections``, lowered to what the descriptor limit (default: this process's
        soft limit) leaves room for."""
        soft = nofile if nofile is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft - ACCEPT_BATCH - FD_RESERVE))


def _raw_response(status: int, reason: str, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Registry:
    """The connections of one server that have no request being served, oldest first."""

    def __init__(self) -> None:
        self.waiting: OrderedDict[GuardedProtocol, None] = OrderedDict()


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with header-time, idle and connection limits (module docstring).

    Heads are counted here; h11's ``max_incomplete_event_size`` (set by :func:`uvicorn_config`)
    is a second guard for pipelined requests.
    """

    limits: ClassVar[ServerLimits] = ServerLimits()
    cap: ClassVar[int] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = self.server_state
        registry = getattr(state, "maestro_registry", None)
        if registry is None:
            registry = _Registry()
            state.maestro_registry = registry  # type: ignore[attr-defined]
        self._registry: _Registry = registry
        self._serving = False  # a request head arrived and its response is not complete
        self._head_bytes = 0
        self._head_tail = b""
        self._draining = False
        self._drained = 0
        self._last_data = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- connection accounting --------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()
        excess = len(self.connections) - self.cap
        victims = [c for c in self._registry.waiting if c is not self][: max(0, excess)]
        for victim in victims:
            victim._close("connection closed to make room: it sent no complete request in time")
        if excess > len(victims):
            self.transport.write(
                _raw_response(503, "Service Unavailable", "server_busy", "too many connections; retry")
            )
            self._close("too many connections, none of them idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.waiting.pop(self, None)
        self._cancel_timer()
        super().connection_lost(exc)

    def _close(self, why: str) -> None:
        self._registry.waiting.pop(self, None)
        self.connections.discard(self)
        self._cancel_timer()
        if not self.transport.is_closing():
            log.info("closing a connection from %s: %s", _peer(self.client), why)
            self.transport.close()

    def _refuse(self, status: int, reason: str, error: str, detail: str) -> None:
        """Answer and close, reading (and dropping) what the peer still sends for a moment.

        Closing a socket with unread input makes the kernel reset the connection, and a reset
        can destroy the answer before the client reads it. So the write side is shut first and
        input is drained for at most :data:`DRAIN_S` seconds and :data:`DRAIN_BYTES` bytes.
        """
        if self.transport.is_closing() or self._draining:
            return
        log.info("refusing a request from %s: %d %s", _peer(self.client), status, error)
        self.transport.write(_raw_response(status, reason, error, detail))
        self._draining = True
        self._drained = 0
        self._serving = False
        self._registry.waiting[self] = None
        self._registry.waiting.move_to_end(self, last=False)  # first to go if room is needed
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._arm(DRAIN_S)

    # -- request phases ---------------------------------------------------------------------
    def _await_head(self) -> None:
        self._serving = False
        self._head_bytes = 0
        self._head_tail = b""
        self._registry.waiting[self] = None
        self._registry.waiting.move_to_end(self)
        self._arm(self.limits.header_timeout_s)

    def _head_received(self) -> None:
        self._serving = True
        self._registry.waiting.pop(self, None)
        self._last_data = self.loop.time()
        self._arm(self.limits.body_idle_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            self._drained += len(data)
            if self._drained > DRAIN_BYTES:
                self._close("it kept sending after its request was refused")
            return
        if self._serving:
            self._last_data = self.loop.time()
        elif self.conn.their_state is not h11.IDLE:
            pass  # the rest of a body the app answered without reading: h11 drops it
        elif self._head_too_large(data):
            self._refuse(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"the request line and headers are over {self.limits.max_header_bytes} bytes",
            )
            return
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before and self.cycle is not None and not self.cycle.response_complete:
            self._head_received()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._await_head()
        before = self.cycle
        super().on_response_complete()
        if self.cycle is not before and self.cycle is not None and not self.cycle.response_complete:
            self._head_received()  # a pipelined request was waiting

    def _head_too_large(self, data: bytes) -> bool:
        """Count the head's bytes up to its blank line, before h11 buffers them.

        h11's own limit only applies to a head that is still incomplete, so a big head arriving in
        one read would pass it; this count does not depend on how the bytes are split.
        """
        limit = self.limits.max_header_bytes
        window = self._head_tail + data[: limit + 4]
        end = window.find(b"\r\n\r\n")
        if end >= 0:
            return self._head_bytes - len(self._head_tail) + end + 4 > limit
        self._head_bytes += len(data)
        self._head_tail = window[-3:]
        return self._head_bytes > limit

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", "invalid_request", "malformed HTTP/1.1 request")

    # -- timers -----------------------------------------------------------------------------
    def _arm(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        if self._draining:
            self._close("refused")
            return
        if not self._serving and self.conn.their_state is not h11.IDLE:
            self._close("it kept sending a body its answer did not need")
            return
        if not self._serving:
            self._refuse(
                408,
                "Request Timeout",
                "request_timeout",
                f"the request line and headers did not arrive within {self.limits.header_timeout_s} s",
            )
            return
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete:
            return  # the body is in; the app answers (or the next head re-arms a timer)
        if self.flow.read_paused:  # the app is behind, not the client
            self._arm(self.limits.body_idle_timeout_s)
            return
        idle = self.loop.time() - self._last_data
        if idle >= self.limits.body_idle_timeout_s:
            self._close(f"the request body stalled for {idle:.0f} s")
        else:
            self._arm(self.limits.body_idle_timeout_s - idle)

    def timeout_keep_alive_handler(self) -> None:
        self._registry.waiting.pop(self, None)
        super().timeout_keep_alive_handler()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


def guarded_protocol(limits: ServerLimits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class bound to ``limits`` (its cap computed now)."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits, "cap": limits.connection_cap()})


class _RedactQuery(logging.Filter):
    """Drops the query string from uvicorn's access log lines (the request path is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].partition("?")[0] + "?[redacted]", *args[3:])
        return True


def redact_access_log() -> None:
    """Install the query-string redaction on uvicorn's access logger (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactQuery) for f in access.filters):
        access.addFilter(_RedactQuery())


def uvicorn_config(
    app: Any,
    *,
    limits: ServerLimits,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str | None = "info",
    proxy_headers: bool = False,
    configure_logging: bool = True,
) -> uvicorn.Config:
    """The ``uvicorn.Config`` both servers run with (guarded protocol, asyncio loop, no websockets).

    >>> uvicorn.Server(uvicorn_config(app, limits=ServerLimits(), port=8087)).run()  # doctest: +SKIP
    """
    redact_access_log()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        loop="asyncio",
        ws="none",
        lifespan="off",
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
        backlog=ACCEPT_BATCH,
        server_header=False,
        proxy_headers=proxy_headers,
        log_level=log_level,
        # Tests and embedding processes keep their own logging; the commands configure uvicorn's.
        log_config=LOGGING_CONFIG if configure_logging else None,
        access_log=True,
        timeout_graceful_shutdown=5,
    )


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` until interrupted (``kwargs`` as for :func:`uvicorn_config`)."""
    uvicorn.Server(uvicorn_config(app, **kwargs)).run()


# -- shared request rules ------------------------------------------------------------------------
def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Every error answer of both servers: ``{"error": <code>, "detail": <what is wrong>}``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def authorization_header(request: Request) -> str | None:
    """The one ``Authorization`` header, or None (AuthenticationError when there are two or more).

    A token in the URL (``?access_token=``) is refused too: URLs end up in logs and histories.
    """
    if "access_token" in request.query_params:
        raise AuthenticationError(
            "a token in the URL is never accepted (URLs are logged); send 'Authorization: Bearer'"
        )
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise AuthenticationError(
            f"the request has {len(values)} Authorization headers; send exactly one"
        )
    return values[0] if values else None


def quoted(text: str) -> str:
    """A value safe inside an HTTP quoted-string (ASCII, no quotes or backslashes)."""
    return "".join(c for c in text if 32 <= ord(c) < 127 and c not in '"\\')


def auth_refusal(err: Exception, realm: str) -> JSONResponse:
    """The answer to a failed authentication: 401 with ``WWW-Authenticate``, or 503 for keys."""
    if isinstance(err, KeysUnavailableError):
        return error_response(
            503,
            "keys_unavailable",
            "token verification keys are unavailable; retry later",
            {"Retry-After": "30"},
        )
    return error_response(
        401,
        "invalid_token",
        str(err),
        {
            "WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token", '
            f'error_description="{quoted(str(err))}"'
        },
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Starlette handler for anything unexpected: logged with its traceback, answered without it."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "unexpected server error; retry later")
