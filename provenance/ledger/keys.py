"""Signing-key storage for ledger checkpoints, in a key directory kept outside the ledger.

Contract: a ledger's signing key is named after the ledger origin and lives in
`<key_dir>/<slug>.key` as one line `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`
with mode 0600 (the key directory is created 0700). It is created on first use, atomically
(write a private temporary file, then hard-link it into place), so two processes racing to
create it end up with one key. The verifier key is also written to `<slug>.vkey` for export;
it is public. Keys are never read from or written to the ledger directory: a key beside the
data it vouches for would let whoever alters the data re-sign it.

A private key is loaded only from a regular file (not through a symlink) owned by the current
user and not readable or writable by group or others, in a directory that group and others
cannot write to (else the key could be swapped for one an attacker knows). Anything else is
refused with a message saying how to fix it (`chmod 600 <file>`, `chmod 700 <dir>`).
"""

from __future__ import annotations

import base64
import binascii
import errno
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


def _check_key_dir(key_dir: Path) -> None:
    """Refuse a key directory that group or others may write to (they could swap the key)."""
    try:
        st = os.stat(key_dir)
    except OSError as err:
        raise KeyFileError(f"cannot read key directory {key_dir}: {err}") from err
    if stat.S_IMODE(st.st_mode) & 0o022:
        raise KeyFileError(
            f"key directory {key_dir} has mode {stat.S_IMODE(st.st_mode):o}: group or others may "
            f"replace the keys in it; run `chmod 700 {key_dir}`"
        )


def _read_private(path: Path) -> str:
    """The text of private key file `path`, after checking the opened file itself."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"signing key {path} is not a regular file; replace it with the key file")
        if st.st_uid != os.getuid():
            raise KeyFileError(
                f"signing key {path} is owned by uid {st.st_uid}, not by this user ({os.getuid()}); "
                f"run `chown {os.getuid()} {path}` if the key is really yours"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"signing key {path} has mode {mode:o}: group or others may read it; "
                f"run `chmod 600 {path}` (and replace the key if others have read it)"
            )
        with os.fdopen(os.dup(fd), "r", encoding="ascii") as f:
            return f.read(4096)
    finally:
        os.close(fd)


def load_signer(key_dir: Path, name: str) -> Signer:
    """Load the signing key `name` from `key_dir`.

    Raises:
        KeyFileError: when the file is missing, malformed, for another name, a symlink, not
            owned by this user, readable by group or others (fix with `chmod 600 <file>`), or
            in a directory group or others may write to (fix with `chmod 700 <dir>`).
    """
    path = key_path(key_dir, name)
    try:
        text = _read_private(path)
    except FileNotFoundError as err:
        raise KeyFileError(
            f"no signing key for {name!r} at {path}; sign a checkpoint once to create it"
        ) from err
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise KeyFileError(
                f"signing key {path} is a symbolic link; keys are read only from regular files"
            ) from err
        raise KeyFileError(f"cannot read signing key {path}: {err}") from err
    except UnicodeDecodeError as err:
        raise KeyFileError(f"cannot read signing key {path}: {err}") from err
    _check_key_dir(Path(key_dir))
    signer = _parse(path, text)
    if signer.name != name:
        raise KeyFileError(f"key file {path} is for {signer.name!r}, want {name!r}")
    return signer


def load_or_create_signer(key_dir: Path, name: str) -> Signer:
    """Load the signing key `name` from `key_dir`, creating it (mode 0600) if it does not exist."""
    path = key_path(key_dir, name)
    if os.path.lexists(path):
        return load_signer(key_dir, name)
    if not Path(key_dir).is_dir():
        Path(key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)  # mkdir's mode is narrowed by the umask, never widened: be exact
    _check_key_dir(Path(key_dir))
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
    vkey, vtmp = path.with_suffix(".vkey"), path.with_name(f".{path.stem}.{os.getpid()}.vkey.tmp")
    vtmp.write_text(signer.verifier.vkey + "\n", encoding="ascii")
    os.chmod(vtmp, 0o644)  # the verifier key is public: auditors read it
    os.replace(vtmp, vkey)
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
