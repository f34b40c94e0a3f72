"""Test helpers: signing keys, token minting (honest and malicious) and a loopback uvicorn."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.http_push.serving import ServerLimits, uvicorn_config

ISSUER = "https://idp.test.example"
AUDIENCE = "maestro-push"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKeys:
    """One partner's private keys, one per supported family, with the JWKS of their public halves.

    ``prefix`` starts the key ids (``""`` -> ``rsa-1``, ``"b-"`` -> ``b-rsa-1``); ``subject`` is the
    partner the keys are bound to in the tests' config, and the ``sub`` its tokens carry.
    """

    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    ed: ed25519.Ed25519PrivateKey
    other_rsa: rsa.RSAPrivateKey  # not published: tokens signed with it must fail
    prefix: str = ""
    subject: str = "partner-a"

    @classmethod
    def generate(cls, prefix: str = "", subject: str = "partner-a") -> SigningKeys:
        return cls(
            rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec=ec.generate_private_key(ec.SECP256R1()),
            ed=ed25519.Ed25519PrivateKey.generate(),
            other_rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            prefix=prefix,
            subject=subject,
        )

    @property
    def kids(self) -> list[str]:
        return [f"{self.prefix}{k}" for k in ("rsa-1", "ec-1", "ed-1")]

    def jwks(self) -> dict[str, Any]:
        keys = [
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())),
                "kid": f"{self.prefix}rsa-1",
                "alg": "RS256",
                "use": "sig",
            },
            {
                **json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())),
                "kid": f"{self.prefix}ec-1",
                "alg": "ES256",
                "use": "sig",
            },
            {
                **json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.ed.public_key())),
                "kid": f"{self.prefix}ed-1",
                "alg": "EdDSA",
                "use": "sig",
            },
        ]
        return {"keys": keys}

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for partner-a pushing to orders; an override of None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "partner-a",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "scope": "push:orders",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(keys: SigningKeys, alg: str = "RS256", *, kid: str | None = None, **overrides: Any) -> str:
    """A token signed by pyjwt with the key of ``alg``'s family; ``sub`` is the keys' partner."""
    key, default_kid = {
        "RS256": (keys.rsa, "rsa-1"),
        "ES256": (keys.ec, "ec-1"),
        "EdDSA": (keys.ed, "ed-1"),
    }[alg]
    overrides.setdefault("sub", keys.subject)
    return jwt.encode(
        claims(**overrides), key, algorithm=alg, headers={"kid": kid or keys.prefix + default_kid}
    )


def unsigned_token(**overrides: Any) -> str:
    """``alg: none`` with an empty signature, as an attacker would send it."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims(**overrides)).encode())}."


def hmac_confusion_token(keys: SigningKeys, **overrides: Any) -> str:
    """HS256 keyed with the server's RSA *public* key PEM (the classic confusion attack)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64url(json.dumps(claims(**overrides)).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = hmac.new(keys.rsa_public_pem(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def tampered(token: str, **overrides: Any) -> str:
    """Keep header and signature, swap in different claims (e.g. a wider scope)."""
    header, _, sig = token.split(".")
    return f"{header}.{b64url(json.dumps(claims(**overrides)).encode())}.{sig}"


@contextmanager
def serve(app: Any, limits: ServerLimits | None = None) -> Iterator[str]:
    """Run ``app`` as the servers run it (:mod:`connectors.http_push.serving`) on a free loopback
    port in a thread, keeping the test's logging; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(
        app, limits=limits or ServerLimits(), log_level=None, configure_logging=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def landed_files(root: Any, dataset: str = "orders") -> list[str]:
    """Every file under the dataset's batches/ and .tmp/ folders (names, sorted)."""
    out = []
    for sub in ("batches", ".tmp"):
        d = root / dataset / sub
        if d.is_dir():
            out.extend(f"{sub}/{p.name}" for p in d.iterdir())
    return sorted(out)


def sign_raw(
    keys: SigningKeys, payload: str, *, header: dict[str, Any] | None = None, alg: str = "EdDSA"
) -> str:
    """A token whose payload is exactly ``payload`` (any JSON text, even one pyjwt would not write)."""
    key = {"RS256": keys.rsa, "ES256": keys.ec, "EdDSA": keys.ed}[alg]
    kid = keys.prefix + {"RS256": "rsa-1", "ES256": "ec-1", "EdDSA": "ed-1"}[alg]
    return jwt.api_jws.encode(
        payload.encode(), key, algorithm=alg, headers={"kid": kid, **(header or {})}
    )


def raw_claims(**overrides: str) -> str:
    """Valid claims as JSON text with some values replaced by raw JSON literals (``NaN``, ``1e400``)."""
    text = {k: json.dumps(v) for k, v in claims().items()}
    text.update(overrides)
    return "{" + ",".join(f'"{k}":{v}' for k, v in text.items()) + "}"


@contextmanager
def captured(*loggers: str) -> Iterator[list[str]]:
    """Every message the named loggers emit during the block (works whether or not they propagate,
    e.g. after uvicorn's own logging config made ``uvicorn.access`` stop propagating)."""
    import logging

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
