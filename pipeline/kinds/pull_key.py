"""The HTTP pull key: it authenticates what the pull driver writes where others could write too.

``<keys_dir>/http_pull/pull.key`` (32 random bytes, owner-only) makes HMAC-SHA256s
(:func:`connectors.http_pull.sign_entry`) over the ``maestro.pull`` cursor entries in lake commits
and over spool descriptions. Under the threat
model (anyone may write the lake and the state folder, nobody else holds a key), a cursor entry or
a spool description without a valid HMAC was not written by this platform: it is reported and
never believed, so nobody can move a source's cursor past records or pass a file of their own off
as what the API answered.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

KEY_BYTES = 32


def pull_key(keys_dir: Path) -> bytes:
    """The key, created on first use (published with an atomic link, so concurrent first uses
    agree); refused when others may read or write it.

    Raises:
        SourceConfigError: the key file is not a private regular file of 32 bytes.
    """
    from connectors.exceptions import SourceConfigError

    path = keys_dir / "http_pull" / "pull.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        tmp = path.with_name(f".pull.key.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process published its key first: use that one
        finally:
            tmp.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise SourceConfigError(
            f"pull key {path} cannot be opened ({err}); it must be a regular file"
        ) from err
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        key = f.read(2 * KEY_BYTES)
    if mode & 0o077:
        raise SourceConfigError(
            f"pull key {path} may be read or written by others (mode {mode & 0o777:o}); "
            f"run chmod 600 {path}"
        )
    if len(key) != KEY_BYTES:
        raise SourceConfigError(
            f"pull key {path} holds {len(key)} bytes, not {KEY_BYTES}; restore it from a backup "
            "(a new key makes every recorded cursor unverifiable)"
        )
    return key
