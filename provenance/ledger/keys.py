"""Signing-key storage for ledger checkpoints, in a key directory kept outside the ledger.

Contract: a ledger's signing key is named after the ledger origin and lives in
`<key_dir>/<slug>.key` as one line `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`
with mode 0600 (the key directory is created 0700). It is created on first use, atomically
(write a private temporary file, then hard-link it into place), so two processes racing to
create it end up with one key. The verifier key is also written to `<slug>.vkey` for export;
it is public. Keys are never read from or written to the ledger directory: a key beside the
data it vouches for would let whoever alters the data re-sign it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance.exceptions import KeyFileError
from provenance.ledger.note import ED25519, Signer, Verifier

__all__ = ["key_path", "load_or_create_signer", "load_signer", "load_verifier", "read_verifier"]

_PREFIX = "PRIVATE+KEY+"


def key_path(key_dir: Path, name: str) -> Path:
    """Return the private key file for key `name` in `key_dir`."""
    return Path(key_dir) / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".key")


def _format(signer: Signer) -> str:
    payload = base64.b64encode(bytes([ED25519]) + signer.seed()).decode("ascii")
    return f"{_PREFIX}{signer.name}+{signer.verifier.key_id:08x}+{payload}\n"


def _parse(path: Path, text: str) -> Signer:
    body = text.strip()
    parts = body[len(_PREFIX) :].split("+", 2) if body.startswith(_PREFIX) else []
    if len(parts) != 3:
        raise KeyFileError(f"key file {path} is malformed: want {_PREFIX}<name>+<id>+<key>")
    name, id_hex, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        want_id = int(id_hex, 16)
    except (binascii.Error, ValueError) as err:
        raise KeyFileError(f"key file {path} is malformed: {err}") from err
    if len(raw) != 33 or raw[0] != ED25519:
        raise KeyFileError(f"key file {path} does not hold an Ed25519 (type 0x01) key")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.key_id != want_id:
        raise KeyFileError(
            f"key file {path} states key ID {want_id:08x} but the key's ID is "
            f"{signer.verifier.key_id:08x}; the file was altered"
        )
    return signer


def load_signer(key_dir: Path, name: str) -> Signer:
    """Load the signing key `name` from `key_dir`.

    Raises:
        KeyFileError: when the file is missing, malformed, for another name, or readable by
            group or others (fix with `chmod 600 <file>`).
    """
    path = key_path(key_dir, name)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as err:
        raise KeyFileError(
            f"no signing key for {name!r} at {path}; sign a checkpoint once to create it"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"cannot read signing key {path}: {err}") from err
    if stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(
            f"signing key {path} has mode {stat.S_IMODE(mode):o}; run `chmod 600 {path}`"
        )
    signer = _parse(path, text)
    if signer.name != name:
        raise KeyFileError(f"key file {path} is for {signer.name!r}, want {name!r}")
    return signer


def load_or_create_signer(key_dir: Path, name: str) -> Signer:
    """Load the signing key `name` from `key_dir`, creating it (mode 0600) if it does not exist."""
    path = key_path(key_dir, name)
    if path.exists():
        return load_signer(key_dir, name)
    Path(key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    signer = Signer.generate(name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _format(signer).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_signer(key_dir, name)  # another process won the race; use its key
    finally:
        tmp.unlink()
    path.with_suffix(".vkey").write_text(signer.verifier.vkey + "\n", encoding="ascii")
    dir_fd = os.open(key_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return signer


def load_verifier(key_dir: Path, name: str) -> Verifier:
    """Load the verifier key `name` from `key_dir`: from the private key if present, else from
    the exported `.vkey` file (an auditor's key directory holds only that)."""
    path = key_path(key_dir, name)
    vkey_file = path.with_suffix(".vkey")
    if path.exists() or not vkey_file.exists():
        return load_signer(key_dir, name).verifier
    verifier = read_verifier(str(vkey_file))
    if verifier.name != name:
        raise KeyFileError(f"verifier key {vkey_file} is for {verifier.name!r}, want {name!r}")
    return verifier


def read_verifier(source: str) -> Verifier:
    """Parse a verifier key given as a `vkey` string or as the path of a file holding one."""
    if "+" not in source or Path(source).is_file():
        try:
            source = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise KeyFileError(f"cannot read verifier key file {source}: {err}") from err
    return Verifier.from_vkey(source)
