"""Command line: ``python -m connectors.http_push serve --config push.yaml [--host H] [--port P]``.

``serve`` loads and validates the YAML config (see README.md) and runs the ASGI app with uvicorn.
``receipt-key --out PATH`` writes a new Ed25519 private key (PEM, mode 0600) for receipt signing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from connectors.http_push.exceptions import PushConfigError


def _serve(args: argparse.Namespace) -> int:
    from connectors.http_push import serving
    from connectors.http_push.app import create_app
    from connectors.http_push.config import PushConfig

    cfg = PushConfig.from_yaml(args.config)
    app = create_app(cfg)
    # Access logs carry method, path (no query string) and status; never headers or tokens.
    serving.run(
        app,
        limits=cfg.server,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
    )
    return 0


def _receipt_key(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    out = Path(args.out)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(f"wrote Ed25519 receipt signing key to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.http_push")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the push service")
    serve.add_argument("--config", required=True, help="YAML config file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8087)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-* from the reverse proxy"
    )
    serve.set_defaults(func=_serve)
    key = sub.add_parser("receipt-key", help="generate an Ed25519 receipt signing key")
    key.add_argument("--out", required=True, help="file to create (must not exist)")
    key.set_defaults(func=_receipt_key)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return int(args.func(args))
    except (PushConfigError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
