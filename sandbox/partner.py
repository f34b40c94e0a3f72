"""A demo push partner: its own Ed25519 key pair, tokens it signs, batches it pushes.

The private key stays in the keys folder (outside the lake, mode 0600); the push endpoint only
ever gets the public key, bound to this one partner (:func:`partner_binding`, the entry of the
push config's ``partners:`` section): the endpoint accepts the partner's tokens only with
``sub`` = its name and only for the datasets the binding lists.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEMO_ISSUER = "https://idp.maestro.local/"
DEMO_AUDIENCE = "maestro-push"
DEMO_PARTNER = "psp-demo"


@dataclass(frozen=True)
class PartnerKeys:
    """A partner's key files and its name (the identity its key is bound to)."""

    private_pem: Path
    public_pem: Path
    partner: str = DEMO_PARTNER


def ensure_partner_keys(keys_dir: Path, name: str = DEMO_PARTNER) -> PartnerKeys:
    """Create the partner's Ed25519 key pair on first use; return the file paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    keys_dir.mkdir(parents=True, exist_ok=True)
    private, public = keys_dir / f"{name}.key.pem", keys_dir / f"{name}.pub.pem"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return PartnerKeys(private, public, name)


def partner_binding(keys: PartnerKeys, datasets: list[str]) -> dict[str, Any]:
    """The push config's ``partners:`` entry binding this partner's key to ``datasets``."""
    return {keys.partner: {"datasets": list(datasets), "keys": [{"pem": str(keys.public_pem)}]}}


def sign_token(
    keys: PartnerKeys, *, scopes: list[str] | None = None, ttl_s: int = 300, subject: str | None = None
) -> str:
    """A short-lived EdDSA JWT for the push endpoint, ``sub`` = the partner (or ``subject``).

    ``scopes`` (``push:<dataset>``) narrow what the binding allows; None claims all of it.
    """
    import jwt
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(keys.private_pem.read_bytes(), password=None)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": DEMO_ISSUER,
        "aud": DEMO_AUDIENCE,
        "sub": subject or keys.partner,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_s),
        "jti": uuid.uuid4().hex,
    }
    if scopes is not None:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]


def push_batch(
    base_url: str,
    token: str,
    dataset: str,
    body: bytes,
    *,
    content_type: str = "text/csv",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """POST one batch; return the receipt (raises with the status and error body otherwise)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = httpx.post(
        f"{base_url}/v1/datasets/{dataset}/batches", content=body, headers=headers, timeout=30
    )
    if response.status_code != 202:
        raise RuntimeError(f"push of {dataset} batch refused: {response.status_code} {response.text[:300]}")
    return dict(response.json())
