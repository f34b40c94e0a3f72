"""The Dagster webserver, served so that a web page in the user's browser cannot drive it.

The Dagster UI has no login: whoever can send it a request can launch runs. Binding it to loopback
keeps other machines out, but not other web pages in the user's own browser:

- **DNS rebinding**: a page on ``evil.example`` re-points that name at ``127.0.0.1``; the browser
  then treats the UI as ``evil.example``'s own origin. Its requests still say
  ``Host: evil.example``, so the webserver answers only Host names on an allow-list (Starlette's
  ``TrustedHostMiddleware``): loopback names and the bound address by default,
  ``--allowed-host`` (``maestro ui``) for the name a proxy or users reach it by.
- **Cross-site requests**: a page may also post to ``http://127.0.0.1:3000/graphql`` directly
  (Dagster's GraphQL endpoint reads a query from the URL of a form post or a GET) or open a
  WebSocket to it; the Host is then a loopback name. :class:`CrossSiteGuard` refuses a request
  whose ``Origin`` is not an allowed host, and one a browser marks as ``Sec-Fetch-Site:
  cross-site``/``same-site`` unless it is a plain navigation (following a link to the UI works).
  Clients that are not browsers (curl, the tests' GraphQL client) send neither header.

``python -m orchestration.webserver`` serves Dagster's own ASGI app (``dagster_webserver``) through
uvicorn with both guards in front. ``maestro ui`` starts it beside the daemon
(:mod:`orchestration.services`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CrossSiteGuard", "allowed_hosts", "guarded", "main"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = {"0.0.0.0", "::", ""}
log = logging.getLogger("maestro.webserver")


def _bare(host: str) -> str:
    """A host name in lower case, IPv6 literals without brackets."""
    return host.strip().lower().removeprefix("[").removesuffix("]")


def allowed_hosts(bind_host: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host names the UI answers: loopback names, the bound address, then ``extra``."""
    names = [*LOOPBACK_NAMES]
    if _bare(bind_host) not in WILDCARD_BINDS:
        names.append(_bare(bind_host))
    names += [_bare(h) for h in extra if h.strip()]
    return list(dict.fromkeys(names))


def _host_header_form(name: str) -> str:
    return f"[{name}]" if ":" in name else name


class CrossSiteGuard:
    """Refuse browser requests coming from another site (see the module docstring)."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str]) -> None:
        self.app = app
        self.hosts = {_bare(h) for h in hosts}

    def _refusal(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is not None:
            try:
                origin_host = urlsplit(origin).hostname
            except ValueError:
                origin_host = None
            if origin_host is None or _bare(origin_host) not in self.hosts:
                return f"requests from origin {origin[:100]!r} are refused"
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site"):
            navigation = (
                scope["type"] == "http"
                and scope.get("method") in ("GET", "HEAD")
                and headers.get("sec-fetch-mode", "").lower() == "navigate"
            )
            if not navigation:
                return f"{site} requests are refused"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = self._refusal(scope)
            if reason is not None:
                log.warning("refused %s %s: %s", scope["type"], scope.get("path"), reason)
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse(f"Forbidden: {reason}", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def guarded(app: ASGIApp, hosts: Sequence[str]) -> ASGIApp:
    """``app`` behind the Host allow-list ``hosts`` and the cross-site guard."""
    return TrustedHostMiddleware(
        CrossSiteGuard(app, hosts), allowed_hosts=[_host_header_form(_bare(h)) for h in hosts]
    )


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    # As dagster_webserver's own CLI: Ctrl-C cancels the lifespan task; that is a normal shutdown.
    with contextlib.suppress(asyncio.CancelledError):
        yield


def serve(*, host: str, port: int, hosts: Sequence[str], workspace: Sequence[str]) -> None:
    """Serve the Dagster UI of the instance in ``DAGSTER_HOME`` (blocks until interrupted)."""
    import uvicorn
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    with DagsterInstance.get() as instance:
        # The webserver CLI's defaults: statement timeout 15 s, pool recycle 1 h, overflow 20.
        instance.optimize_for_webserver(15000, 3600, 20)
        with WorkspaceProcessContext(
            instance, version=__version__, read_only=False, workspace_load_target=WorkspaceFileTarget(
                list(workspace)
            )
        ) as context:
            app = create_app_from_workspace_process_context(context, "", 2000, lifespan=_lifespan)
            log.info("serving the Dagster UI on http://%s:%s for Host %s", host, port, ", ".join(hosts))
            uvicorn.run(guarded(app, hosts), host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.webserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="another Host name to answer (repeatable)")
    parser.add_argument("-w", "--workspace", action="append", required=True, help="workspace file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    log.setLevel(logging.INFO)
    from orchestration.home import private_umask

    private_umask()
    serve(host=args.host, port=args.port, hosts=allowed_hosts(args.host, args.allowed_host),
          workspace=args.workspace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
