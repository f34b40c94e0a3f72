"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and the note key formats.

Contract: a signed note is UTF-8 text ending in a newline, a blank line, then one or more lines
`— <key name> <base64(4-byte key ID || signature)>`. The key ID is the first four bytes of
SHA-256(key name || 0x0A || 0x01 || public key). Parsing is strict (no control characters, no
non-canonical base64), so altering any byte of a stored note makes it fail to open. Opening a
note succeeds only if a trusted key signed it and every signature by a trusted key verifies;
signatures by unknown keys are ignored, as the spec requires.

Verifier keys use the `vkey` text form `<name>+<key ID hex>+<base64(0x01 || public key)>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance.exceptions import KeyFileError, NoteError

__all__ = [
    "ED25519",
    "NoteSignature",
    "SignedNote",
    "Signer",
    "Verifier",
    "ed25519_verify",
    "key_id",
]

ED25519 = 0x01
_DASH = "\u2014 "
_MAX_SIGNATURES = 64


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return True only if `signature` is a valid RFC 8032 Ed25519 signature of `message`.

    Malformed keys, signatures of the wrong length and non-canonical encodings are rejected
    rather than raised, so callers can treat every untrusted input the same way.

    >>> ed25519_verify(bytes(32), b"msg", bytes(63))
    False
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise KeyFileError(
            f"key name {name!r} is invalid: it must be non-empty, without spaces or '+'"
        )


def key_id(name: str, public_key: bytes) -> int:
    """Return the signed-note key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _strict_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as err:
        raise NoteError(f"{what} is not valid base64: {err}") from err
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 public key with its note key name."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise KeyFileError(f"Ed25519 public key for {self.name!r} must be 32 bytes")

    @property
    def key_id(self) -> int:
        """The 32-bit key ID that prefixes this key's signatures."""
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string `<name>+<key ID hex>+<base64(0x01 || public key)>`."""
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return True if `signature` is this key's Ed25519 signature of `message`."""
        return ed25519_verify(self.public_key, message, signature)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key string; raises KeyFileError when it is malformed or inconsistent."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise KeyFileError(
                f"verifier key {vkey!r} is malformed: want <name>+<8 hex digits>+<base64 key>"
            )
        name, hash_hex, b64 = parts
        try:
            want_id = int(hash_hex, 16)
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as err:
            raise KeyFileError(f"verifier key {vkey!r} is malformed: {err}") from err
        if len(raw) != 33 or raw[0] != ED25519:
            raise KeyFileError(f"verifier key {vkey!r} is not an Ed25519 (type 0x01) key")
        verifier = cls(name=name, public_key=raw[1:])
        if verifier.key_id != want_id:
            raise KeyFileError(
                f"verifier key {vkey!r} has key ID {want_id:08x}, want {verifier.key_id:08x}"
            )
        return verifier


class Signer:
    """An Ed25519 private key with its note key name (see `provenance.ledger.keys` for storage)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        raw = private_key.public_key().public_bytes_raw()
        self.verifier = Verifier(name=name, public_key=raw)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Create a signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `message`."""
        return self._key.sign(message)

    def seed(self) -> bytes:
        """Return the 32-byte private seed (for storage only)."""
        return self._key.private_bytes_raw()


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        payload = struct.pack(">I", self.key_id) + self.signature
        return f"{_DASH}{self.name} {base64.b64encode(payload).decode('ascii')}\n"


@dataclass(frozen=True)
class SignedNote:
    """A note text with its signatures.

    >>> signer = Signer.generate("example.com/log")
    >>> note = SignedNote.sign("hello\\n", [signer])
    >>> SignedNote.parse(note.to_bytes()).open([signer.verifier])
    'hello\\n'
    """

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def sign(cls, text: str, signers: list[Signer]) -> SignedNote:
        """Sign `text` (which must end in a newline) with every signer."""
        _check_text(text)
        sigs = tuple(
            NoteSignature(s.name, s.verifier.key_id, s.sign(text.encode())) for s in signers
        )
        return cls(text=text, signatures=sigs)

    def to_bytes(self) -> bytes:
        """Return the note's wire form: text, blank line, signature lines."""
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()

    @classmethod
    def parse(cls, data: bytes | str) -> SignedNote:
        """Parse a note's wire form strictly; raises NoteError on any malformation."""
        try:
            raw = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as err:
            raise NoteError(f"note is not valid UTF-8: {err}") from err
        if any(ord(c) < 0x20 and c != "\n" for c in raw):
            raise NoteError("note contains a control character other than newline")
        if not raw.endswith("\n"):
            raise NoteError("note does not end with a newline")
        split = raw.rfind("\n\n")
        if split < 0:
            raise NoteError("note has no blank line before its signatures")
        text, block = raw[: split + 1], raw[split + 2 :]
        lines = block.split("\n")[:-1]
        if not lines:
            raise NoteError("note has no signature lines")
        if len(lines) > _MAX_SIGNATURES:
            raise NoteError(f"note has {len(lines)} signatures, more than {_MAX_SIGNATURES}")
        return cls(text=text, signatures=tuple(_parse_line(line) for line in lines))

    def open(self, verifiers: list[Verifier]) -> str:
        """Return the text if a trusted key signed it and all trusted signatures verify.

        Raises:
            NoteError: when a trusted key's signature fails, or no trusted key signed the note.
        """
        known = {(v.name, v.key_id): v for v in verifiers}
        verified = 0
        for sig in self.signatures:
            verifier = known.get((sig.name, sig.key_id))
            if verifier is None:
                continue
            if not verifier.verify(self.text.encode(), sig.signature):
                raise NoteError(
                    f"signature by {sig.name} ({sig.key_id:08x}) does not verify: "
                    "the note text or signature was altered"
                )
            verified += 1
        if not verified:
            signed_by = sorted(f"{s.name}+{s.key_id:08x}" for s in self.signatures)
            trusted = sorted(f"{v.name}+{v.key_id:08x}" for v in verifiers)
            raise NoteError(
                f"note is not signed by a trusted key: signed by {signed_by}, trusted {trusted}"
            )
        return self.text


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text must end in a newline and contain no other control characters")


def _parse_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise NoteError(f"note signature line {line!r} does not start with an em dash and space")
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise NoteError(f"note signature line {line!r} is not '— <name> <signature>'")
    name, b64 = parts
    try:
        _check_name(name)
    except KeyFileError as err:
        raise NoteError(f"note signature line has a bad key name: {err}") from err
    payload = _strict_b64(b64, f"signature by {name}")
    if len(payload) < 5:
        raise NoteError(f"signature by {name} is {len(payload)} bytes, too short")
    return NoteSignature(name, int(struct.unpack(">I", payload[:4])[0]), payload[4:])
