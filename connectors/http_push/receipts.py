"""Batch receipts and their optional Ed25519 signatures.

A :class:`Receipt` is what the partner gets back (``202``) and what lands beside the batch as
``<batch_id>.receipt.json``. ``sha256``/``bytes`` describe the stored file, which holds the body
exactly as received (gzip stays gzip; ``content_encoding`` says so); ``decoded_sha256`` /
``decoded_bytes`` describe the body after removing the content encoding, so a partner can check
either.

Signing: ``signature`` is base64url (no padding) of an Ed25519 signature over the receipt's
canonical JSON — every other field, keys sorted, ``separators=(",", ":")``, UTF-8, with
``signature`` removed. ``signature_key_id`` is the first 16 hex digits of the SHA-256 of the raw
public key, and is itself signed. :func:`verify_receipt` checks one.

>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> signer = ReceiptSigner(Ed25519PrivateKey.generate())
>>> r = signer.sign(Receipt(batch_id="b", dataset="d", sha256="0" * 64, bytes=1,
...     content_type="text/csv", content_encoding="identity", decoded_sha256="0" * 64,
...     decoded_bytes=1, received_at="2024-01-01T00:00:00+00:00", caller="p", file="b.csv"))
>>> verify_receipt(r.to_dict(), signer.public_key)
True
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from connectors.http_push.exceptions import PushConfigError


@dataclass(frozen=True)
class Receipt:
    """Proof that a batch landed: what, where, when and from whom."""

    batch_id: str
    dataset: str
    sha256: str
    bytes: int
    content_type: str
    content_encoding: str
    decoded_sha256: str
    decoded_bytes: int
    received_at: str
    caller: str
    file: str
    idempotency_key_sha256: str | None = None
    signature_key_id: str | None = None
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def canonical_bytes(receipt: dict[str, Any]) -> bytes:
    """The bytes a receipt signature covers: every field except ``signature``, canonical JSON."""
    body = {k: v for k, v in receipt.items() if k != "signature" and v is not None}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class ReceiptSigner:
    """Signs receipts with the server's Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_pem_file(cls, path: Path) -> ReceiptSigner:
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as err:
            raise PushConfigError(
                f"http_push config field 'receipt_signing_key': cannot load an unencrypted PEM "
                f"private key from {path}: {type(err).__name__}"
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise PushConfigError(
                f"http_push config field 'receipt_signing_key': {path} holds a "
                f"{type(key).__name__}; an Ed25519 private key is required"
            )
        return cls(key)

    def sign(self, receipt: Receipt) -> Receipt:
        unsigned = replace(receipt, signature=None, signature_key_id=self.key_id)
        sig = self._key.sign(canonical_bytes(unsigned.to_dict()))
        return replace(unsigned, signature=base64.urlsafe_b64encode(sig).rstrip(b"=").decode())

    def public_jwk(self) -> dict[str, str]:
        """The verification key as an OKP JWK (served at ``GET /v1/receipt-key``)."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.key_id,
            "alg": "EdDSA",
            "use": "sig",
        }


def verify_receipt(receipt: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True if ``receipt`` carries a valid signature by ``public_key``."""
    sig = receipt.get("signature")
    if not isinstance(sig, str):
        return False
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        public_key.verify(raw, canonical_bytes(receipt))
    except (InvalidSignature, ValueError):
        return False
    return True
