"""Streaming a request body to a temp file, checking it as it goes.

:class:`BodyWriter` receives the body chunk by chunk and, without ever holding more than one
chunk (plus a bounded inflate window) in memory:

- writes the bytes exactly as received to a temp file in ``<dataset>/.tmp/``;
- hashes them (``sha256``, ``size``) and, for ``Content-Encoding: gzip``, inflates them
  incrementally to hash the decoded body (``decoded_sha256``, ``decoded_size``) and to prove the
  gzip is complete (multi-member gzip is accepted);
- enforces ``max_bytes`` on the received bytes and ``max_decoded_bytes`` on the decoded bytes
  (:class:`~connectors.http_push.exceptions.PayloadTooLargeError`, raised as soon as a limit is
  crossed), and checks the decoded body is UTF-8
  (:class:`~connectors.http_push.exceptions.PayloadInvalidError`).

:meth:`finish` fsyncs and closes the file; :meth:`discard` removes it (a refused body is never
kept). The writer's methods block (file I/O): call them from a worker thread in async code.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from connectors.http_push.exceptions import PayloadInvalidError, PayloadTooLargeError

#: Inflate at most this much per step, so a gzip bomb cannot allocate more than this at once.
_INFLATE_STEP = 1 << 20


class GzipInflater:
    """Incremental gunzip of every member of a (multi-member, RFC 1952 §2.2) gzip stream.

    :meth:`feed` yields the decoded bytes at most :data:`_INFLATE_STEP` at a time, so a bomb
    never allocates more than that at once (the caller counts and caps the total); a corrupt
    stream raises ``zlib.error``. :attr:`complete` says whether the data fed so far ends exactly
    at the end of a member (a truncated stream is not complete). Both servers decode gzip bodies
    with it, so no member is ever ignored.
    """

    def __init__(self) -> None:
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._started = False
        self.members = 0

    @property
    def complete(self) -> bool:
        return self._started and self._d.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data and not self._started:
            return
        self._started = True
        while True:
            if self._d.eof:
                if not data:
                    return
                self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)  # the next member begins
            out = self._d.decompress(data, _INFLATE_STEP)
            if out:
                yield out
            if self._d.eof:
                self.members += 1
                data = self._d.unused_data
                continue
            data = self._d.unconsumed_tail
            # A full step may leave output pending inside zlib even with no input left.
            if not data and len(out) < _INFLATE_STEP:
                return


class BodyWriter:
    """One body on its way to disk (see module docstring)."""

    def __init__(
        self,
        tmp_dir: Path,
        *,
        gzip: bool,
        max_bytes: int,
        max_decoded_bytes: int,
        suffix: str = "",
    ) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=suffix)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.gzip = gzip
        self.max_bytes = max_bytes
        self.max_decoded_bytes = max_decoded_bytes
        self._raw = hashlib.sha256()
        self._decoded = hashlib.sha256()
        self.size = 0
        self.decoded_size = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._inflater = GzipInflater() if gzip else None
        self._moved = False

    @property
    def sha256(self) -> str:
        return self._raw.hexdigest()

    @property
    def decoded_sha256(self) -> str:
        return self._decoded.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Append one chunk; raises PayloadTooLargeError / PayloadInvalidError at once."""
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayloadTooLargeError(f"body is larger than the limit of {self.max_bytes} bytes")
        self._raw.update(chunk)
        self._file.write(chunk)
        if self._inflater is None:
            self._on_decoded(chunk)
        else:
            self._inflate(chunk)

    def finish(self) -> None:
        """Check the body is complete, fsync and close the temp file."""
        if self.size == 0:
            raise PayloadInvalidError("body is empty")
        if self._inflater is not None and not self._inflater.complete:
            raise PayloadInvalidError("gzip body is truncated (incomplete gzip stream)")
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise PayloadInvalidError("body is not valid UTF-8 (truncated character)") from err
        if self.decoded_size == 0:
            raise PayloadInvalidError("decoded body is empty")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def move_to(self, dest: Path) -> None:
        """Atomically rename the finished temp file to ``dest`` (same filesystem)."""
        os.replace(self.path, dest)
        self._moved = True

    def discard(self) -> None:
        """Close and delete the temp file unless it was moved (refused body, or a replay)."""
        if not self._file.closed:
            self._file.close()
        if not self._moved:
            self.path.unlink(missing_ok=True)

    def _inflate(self, data: bytes) -> None:
        assert self._inflater is not None
        try:
            for out in self._inflater.feed(data):
                self._on_decoded(out)
        except zlib.error as err:
            raise PayloadInvalidError(f"body is not valid gzip: {err}") from err

    def _on_decoded(self, data: bytes) -> None:
        if not data:
            return
        self.decoded_size += len(data)
        if self.decoded_size > self.max_decoded_bytes:
            raise PayloadTooLargeError(
                f"decompressed body is larger than the limit of {self.max_decoded_bytes} bytes"
            )
        self._decoded.update(data)
        try:
            self._utf8.decode(data)
        except UnicodeDecodeError as err:
            raise PayloadInvalidError(
                f"body is not valid UTF-8 (bad byte near decoded offset "
                f"{self.decoded_size - len(data) + err.start})"
            ) from err
