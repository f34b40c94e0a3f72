"""Incremental cursors: where the next pull resumes, how positions compare, and a local cache.

A :class:`Cursor` is a position in the API's order: the value of the cursor field (``updated_at``)
and, for keyset pagination, the id of the record at that position (``(updated_at, id)``). Its
``text()`` is the value alone, or compact JSON ``{"value": ..., "id": ...}`` when it has an id.

Where the committed cursor lives is the caller's business: the pipeline records it in the same
atomic lake commit as the rows and reads it back from the lake before each pull
(:mod:`pipeline.kinds.pull_state`). This package never decides that a pull is committed.

:class:`CursorStore` is a *cache* of that state: one small JSON file per source, replaced
atomically (write a temporary file, fsync, rename, fsync the directory), holding the committed
cursor with the app id of the commit that recorded it, and a *pending* cursor written just before
a commit. The lake wins whenever it knows the answer; the cache only bridges the case where the
lake's log no longer shows it (see the pipeline module), and then only for app ids the lake
confirms.

:class:`CursorMax` computes a pull's new cursor: the largest position, values compared as numbers
when every value is numeric, as instants when every value is an ISO-8601 timestamp (offsets
normalised, naive times taken as UTC), else as text; ids likewise.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.http_pull.exceptions import CursorStateError
from connectors.http_pull.records import to_json

_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Cursor:
    """A position in the API's ``(cursor_field, id_field)`` order; ``id`` is None without keyset.

    >>> Cursor("2024-01-02T00:00:00Z", "17").text()
    '{"value":"2024-01-02T00:00:00Z","id":"17"}'
    >>> Cursor.parse('{"value":"2024-01-02T00:00:00Z","id":"17"}')
    Cursor(value='2024-01-02T00:00:00Z', id='17')
    >>> Cursor.parse("2024-01-02T00:00:00Z")
    Cursor(value='2024-01-02T00:00:00Z', id=None)
    """

    value: str
    id: str | None = None

    def text(self) -> str:
        if self.id is None:
            return self.value
        return json.dumps({"value": self.value, "id": self.id}, separators=(",", ":"))

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, str]:
        return {"value": self.value} if self.id is None else {"value": self.value, "id": self.id}

    @classmethod
    def from_dict(cls, data: Any) -> Cursor:
        if not isinstance(data, dict) or not isinstance(data.get("value"), str):
            raise ValueError(f"{data!r} is not a cursor (expected {{'value': str, 'id': str?}})")
        ident = data.get("id")
        if ident is not None and not isinstance(ident, str):
            raise ValueError(f"cursor id {ident!r} is not a string")
        return cls(data["value"], ident)

    @classmethod
    def parse(cls, text: str | Cursor | None) -> Cursor | None:
        """The cursor a ``text()`` (or a plain value) stands for; ``None`` stays ``None``."""
        if text is None or isinstance(text, Cursor):
            return text
        if text.startswith("{"):
            try:
                return cls.from_dict(json.loads(text))
            except ValueError:
                pass  # a text cursor that merely starts with "{"
        return cls(text)


def _as_cursor(value: Cursor | str) -> Cursor:
    cursor = Cursor.parse(value)
    if cursor is None or not cursor.value:
        raise ValueError(f"a cursor must be a non-empty value, got {value!r}")
    return cursor


@dataclass(frozen=True)
class CachedCursor:
    """What the cache holds for one source (see :class:`CursorStore`)."""

    cursor: Cursor | None
    app_id: str | None = None
    pending: Cursor | None = None
    pending_app_id: str | None = None


class CursorStore:
    """One JSON file per source in ``state_dir``: a cache of the committed cursor.

    >>> import tempfile
    >>> store = CursorStore(tempfile.mkdtemp())
    >>> store.get("products_api") is None
    True
    >>> store.set("products_api", Cursor("2024-01-02T00:00:00Z", "7"), app_id="maestro-ingest:x")
    >>> store.get("products_api")
    Cursor(value='2024-01-02T00:00:00Z', id='7')
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

    def get(self, source: str) -> Cursor | None:
        """The cached committed cursor of ``source``, or ``None`` when none was saved."""
        cached = self.load(source)
        return cached.cursor if cached else None

    def load(self, source: str) -> CachedCursor | None:
        """Everything cached for ``source`` (committed and pending), or ``None``."""
        path = self.path(source)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError(f"expected an object, got {type(data).__name__}")
            pending = data.get("pending") or {}
            return CachedCursor(
                cursor=_read(data.get("cursor"), data.get("cursor_id")),
                app_id=_str_or_none(data.get("app_id")),
                pending=_read(pending.get("cursor"), pending.get("cursor_id")),
                pending_app_id=_str_or_none(pending.get("app_id")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise CursorStateError(
                f"cursor file {path} for source {source!r} is unreadable ({err}); it is only a "
                "cache of the lake's cursor: delete it"
            ) from err

    def set(self, source: str, value: Cursor | str, *, app_id: str | None = None) -> None:
        """Cache ``value`` as the committed cursor (recorded by the commit ``app_id``)."""
        cursor = _as_cursor(value)
        self._write(source, {"cursor": cursor.value, "cursor_id": cursor.id, "app_id": app_id})

    def set_pending(self, source: str, value: Cursor | str, *, app_id: str) -> None:
        """Note, before a commit, the cursor the commit ``app_id`` will record."""
        cursor = _as_cursor(value)
        try:
            cached = self.load(source) or CachedCursor(None)
        except CursorStateError:
            cached = CachedCursor(None)  # an unreadable cache is replaced, never trusted
        self._write(
            source,
            {
                "cursor": cached.cursor.value if cached.cursor else None,
                "cursor_id": cached.cursor.id if cached.cursor else None,
                "app_id": cached.app_id,
                "pending": {"cursor": cursor.value, "cursor_id": cursor.id, "app_id": app_id},
            },
        )

    def _write(self, source: str, fields: dict[str, Any]) -> None:
        path = self.path(source)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload = {"source": source, **fields, "saved_at": datetime.now(UTC).isoformat()}
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
        fsync_dir(self.state_dir)

    def delete(self, source: str) -> None:
        """Forget the cached cursor (the lake's record is untouched)."""
        self.path(source).unlink(missing_ok=True)
        fsync_dir(self.state_dir)


def _str_or_none(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _read(value: Any, ident: Any) -> Cursor | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"cursor is a {type(value).__name__}, expected a string")
    return Cursor(value, _str_or_none(ident))


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable where the platform allows it."""
    # Not every platform can open a directory for fsync; there the rename alone is the best.
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


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value)


class CursorMax:
    """Running maximum of positions, keeping the winning value's (and id's) original text.

    A position without an id stands *after* every record with the same value (an API filtering
    ``updated_at > value`` has returned them all), so a bare value beats any id at that value.

    >>> m = CursorMax("2024-01-01T12:00:00+02:00")
    >>> m.update("2024-01-01T11:00:00Z"); m.value
    '2024-01-01T11:00:00Z'
    >>> m = CursorMax(None); m.update(9); m.update(10); m.value
    '10'
    >>> k = CursorMax(None); k.update("2024-01-01", 3); k.update("2024-01-01", 12); k.cursor
    Cursor(value='2024-01-01', id='12')
    """

    def __init__(self, start: Cursor | str | None) -> None:
        self.cursor: Cursor | None = None
        self._kinds: list[str | None] = [None, None]
        self._key: tuple[Any, ...] | None = None
        start = Cursor.parse(start)
        if start is not None:
            self.update(start.value, start.id)

    @property
    def value(self) -> str | None:
        return self.cursor.value if self.cursor else None

    def key(self, value: Any, ident: Any = None) -> tuple[Any, ...]:
        """The comparable form of a position (raises ``ValueError`` on mixed kinds)."""
        _, vkey = self._check(0, value)
        if ident is None:
            return (vkey, 1)
        _, ikey = self._check(1, ident)
        return (vkey, 0, ikey)

    def _check(self, slot: int, value: Any) -> tuple[str, Any]:
        kind, key = cursor_key(value)
        seen = self._kinds[slot]
        if seen is not None and kind != seen:
            what = "cursor" if slot == 0 else "id"
            raise ValueError(f"{what} values mix kinds: {value!r} is a {kind}, earlier ones are {seen}s")
        self._kinds[slot] = kind
        return kind, key

    def update(self, value: Any, ident: Any = None) -> None:
        if value is None:
            return  # a record without the field cannot move the cursor
        key = self.key(value, ident)
        if self._key is None or key > self._key:
            self._key = key
            self.cursor = Cursor(_text(value), None if ident is None else _text(ident))
