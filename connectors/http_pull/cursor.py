"""Incremental cursor state: where the next pull resumes, saved only after a successful commit.

Contract (the orchestration relies on it):

1. ``since = store.get(source)`` (``None``: nothing saved, read from the config's ``initial``).
2. ``result = source.fetch(spool_dir, since=since)`` reads and spools; it never saves a cursor.
3. Commit the spooled records to the lake.
4. Only then ``store.set(source, result.new_cursor)``.

A crash or failure anywhere before step 4 leaves the old cursor, so the next run re-reads the same
records (at-least-once; the lake commit is idempotent on the manifest id and keyed merges dedupe).
The store never moves a cursor on its own and does not refuse a smaller value, so an operator
can rewind a source by setting an older cursor (or ``delete`` it for a full re-pull).

Each source's cursor is one small JSON file ``<state_dir>/<source>.cursor.json``, replaced
atomically (write a temporary file, fsync, rename, fsync the directory): a reader sees the old
or the new value, never a torn file.

:class:`CursorMax` computes ``new_cursor``: the largest value of the cursor field, compared as
numbers when every value is numeric, as instants when every value is an ISO-8601 timestamp
(offsets normalised, naive times taken as UTC), else as text.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.http_pull.exceptions import CursorStateError

_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CursorStore:
    """One JSON file per source in ``state_dir``.

    >>> import tempfile
    >>> store = CursorStore(tempfile.mkdtemp())
    >>> store.get("products_api") is None
    True
    >>> store.set("products_api", "2024-01-02T00:00:00Z")
    >>> store.get("products_api")
    '2024-01-02T00:00:00Z'
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)

    def __repr__(self) -> str:
        return f"CursorStore({str(self.state_dir)!r})"

    def path(self, source: str) -> Path:
        if not _SOURCE.match(source):
            raise ValueError(
                f"source name {source!r} cannot name a cursor file (letters, digits, _ . -)"
            )
        return self.state_dir / f"{source}.cursor.json"

    def get(self, source: str) -> str | None:
        """The saved cursor of ``source``, or ``None`` when none was saved."""
        path = self.path(source)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            value = data["cursor"]
            if not isinstance(value, str):
                raise TypeError(f"cursor is a {type(value).__name__}, expected a string")
        except (ValueError, KeyError, TypeError) as err:
            raise CursorStateError(
                f"cursor file {path} for source {source!r} is unreadable ({err}); restore it, or "
                "delete it to re-pull from the configured initial cursor"
            ) from err
        return value

    def set(self, source: str, value: str) -> None:
        """Save ``value`` as the cursor of ``source``. Call only after the data is committed."""
        if not isinstance(value, str) or not value:
            raise ValueError(f"cursor for {source!r} must be a non-empty string, got {value!r}")
        path = self.path(source)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload = {"source": source, "cursor": value, "saved_at": datetime.now(UTC).isoformat()}
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=f".{source}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.state_dir)

    def delete(self, source: str) -> None:
        """Forget the cursor: the next pull starts from the configured ``initial``."""
        self.path(source).unlink(missing_ok=True)
        _fsync_dir(self.state_dir)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is; not every platform can open a
    # directory for fsync, and there the rename alone is the best available.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cursor_key(value: Any) -> tuple[str, Any]:
    """``(kind, comparable)`` for a cursor value: kind is ``number``, ``time`` or ``text``."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError(f"{value!r} cannot be a cursor (expected a number or a timestamp)")
    if isinstance(value, int | float | Decimal):
        return "number", Decimal(str(value))
    text = str(value).strip()
    try:
        number = Decimal(text)
        if number.is_finite():
            return "number", number
    except InvalidOperation:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return "text", text
    return "time", when if when.tzinfo else when.replace(tzinfo=UTC)


class CursorMax:
    """Running maximum of cursor values, keeping the winning value's original text.

    >>> m = CursorMax("2024-01-01T12:00:00+02:00")
    >>> m.update("2024-01-01T11:00:00Z"); m.value
    '2024-01-01T11:00:00Z'
    >>> m = CursorMax(None); m.update(9); m.update(10); m.value
    '10'
    """

    def __init__(self, start: str | None) -> None:
        self.value: str | None = None
        self._key: tuple[str, Any] | None = None
        if start is not None:
            self.update(start)

    def update(self, value: Any) -> None:
        if value is None:
            return  # a record without the field cannot move the cursor
        key = cursor_key(value)
        if self._key is not None and key[0] != self._key[0]:
            raise ValueError(
                f"cursor values mix kinds: {self.value!r} is a {self._key[0]}, "
                f"{value!r} is a {key[0]}"
            )
        if self._key is None or key[1] > self._key[1]:
            self._key = key
            self.value = value if isinstance(value, str) else str(value)
