"""``PullResult``: what one pull fetched, saved beside its spool so a killed run can be settled.

The description may be authenticated: ``save(key=...)`` adds an HMAC-SHA256 over its canonical
JSON (which holds the spool's sha256; :func:`sign_entry`), and ``load(..., key=...)`` refuses a
description without a valid one. Whoever can write the spool folder but holds no key cannot then
pass a file of their own off as what the API answered.

:func:`narrow_pull` cuts a finished pull down to the records after a position: a pull killed
before its commit, whose window started before the cursor the lake holds now, still holds the
versions that are newer than that cursor (an API gives every change a cursor value after all
earlier ones), and only those are new to the lake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import SourceObject
from connectors.http_pull.config import HttpPullConfig
from connectors.http_pull.cursor import Cursor, CursorMax, fsync_dir
from connectors.http_pull.records import get_path, loads
from connectors.http_pull.spool import SIDECAR_SUFFIX, SpoolWriter, remove_pull


@dataclass(frozen=True)
class PullResult:
    """What one pull fetched. ``new_cursor`` belongs in the commit of these records.

    ``skipped`` counts records the API sent at or before the position asked for (an inclusive
    filter): they were read by an earlier pull and are not in the spool. ``passes`` is the number
    of reads of the window (more than one with ``reread_until_stable``).
    """

    source: str
    uri: str
    since: Cursor | None
    new_cursor: Cursor | None
    spool_path: Path
    sha256: str
    size: int
    records: int
    columns: tuple[str, ...]
    pages: int
    requests: int
    retries: int
    passes: int = 1
    skipped: int = 0
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def source_object(self) -> SourceObject:
        """The manifest entry: same bytes give the same content id (the idempotency key)."""
        return SourceObject(
            uri=self.uri,
            sha256=self.sha256,
            size=self.size,
            mtime=self.fetched_at,
            cursor=self.since.text() if self.since else None,
        )

    @property
    def sidecar_path(self) -> Path:
        return self.spool_path.with_name(self.spool_path.name + SIDECAR_SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "uri": self.uri,
            "since": self.since.to_dict() if self.since else None,
            "new_cursor": self.new_cursor.to_dict() if self.new_cursor else None,
            "spool": self.spool_path.name,
            "sha256": self.sha256,
            "size": self.size,
            "records": self.records,
            "columns": list(self.columns),
            "pages": self.pages,
            "requests": self.requests,
            "retries": self.retries,
            "passes": self.passes,
            "skipped": self.skipped,
            "fetched_at": self.fetched_at.isoformat(),
        }

    def save(self, *, key: bytes | None = None) -> None:
        """Write the description beside the spool, atomically (``<spool>.pull.json``).

        With ``key`` it carries an HMAC that :meth:`load` checks.
        """
        payload = self.to_dict() if key is None else sign_entry(key, self.to_dict())
        tmp = self.sidecar_path.with_name(self.sidecar_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.sidecar_path)
        fsync_dir(self.sidecar_path.parent)

    @classmethod
    def load(cls, sidecar: Path, *, key: bytes | None = None) -> PullResult:
        """The description saved beside a spool; ``ValueError`` when it is not one, or when
        ``key`` is given and it does not carry a valid HMAC made with that key."""
        try:
            d = json.loads(sidecar.read_text(encoding="utf-8"))
            if key is not None and not entry_verified(key, d):
                raise ValueError("its HMAC is missing or wrong (not written by this platform)")
            return cls(
                source=str(d["source"]),
                uri=str(d["uri"]),
                since=Cursor.from_dict(d["since"]) if d.get("since") else None,
                new_cursor=Cursor.from_dict(d["new_cursor"]) if d.get("new_cursor") else None,
                spool_path=sidecar.with_name(str(d["spool"])),
                sha256=str(d["sha256"]),
                size=int(d["size"]),
                records=int(d["records"]),
                columns=tuple(str(c) for c in d["columns"]),
                pages=int(d["pages"]),
                requests=int(d["requests"]),
                retries=int(d["retries"]),
                passes=int(d.get("passes", 1)),
                skipped=int(d.get("skipped", 0)),
                fetched_at=datetime.fromisoformat(d["fetched_at"]),
            )
        except (OSError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{sidecar} is not a pull description: {err}") from err


def sign_entry(key: bytes, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with ``mac``: an HMAC-SHA256 with ``key`` over its canonical JSON without ``mac``.

    >>> entry = sign_entry(b"k" * 32, {"cursor": "5"}); entry_verified(b"k" * 32, entry)
    True
    >>> entry_verified(b"k" * 32, {**entry, "cursor": "9"}), entry_verified(b"x" * 32, entry)
    (False, False)
    """
    body = {k: v for k, v in entry.items() if k != "mac"}
    return {**body, "mac": _mac(key, body)}


def entry_verified(key: bytes, entry: dict[str, Any]) -> bool:
    """Whether ``entry`` carries a valid ``mac`` made with ``key`` (see :func:`sign_entry`)."""
    mac = entry.get("mac")
    body = {k: v for k, v in entry.items() if k != "mac"}
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(key, body))


def _mac(key: bytes, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def narrow_pull(
    config: HttpPullConfig, pulled: PullResult, *, after: Cursor, key: bytes | None = None
) -> PullResult | None:
    """A new spool with ``pulled``'s records after position ``after`` (the old one is removed).

    Returns ``None`` (and removes the spool) when none is after it, or when a record has no
    position to compare (it cannot be placed, so the pull cannot be narrowed safely).
    """
    inc = config.incremental
    directory = pulled.spool_path.parent
    if inc is None:
        remove_pull(pulled.spool_path)
        return None
    tracker = CursorMax(after)
    floor = tracker.key(after.value, after.id)
    with SpoolWriter(directory, source=pulled.source) as spool:
        with open(pulled.spool_path, encoding="utf-8") as f:
            for line in f:
                record = loads(line)
                value = get_path(record, inc.cursor_field)
                ident = get_path(record, inc.id_field) if inc.id_field else None
                if value is None or (inc.id_field is not None and ident is None):
                    spool.abort()
                    remove_pull(pulled.spool_path)
                    return None
                if tracker.key(value, ident) > floor:
                    tracker.update(value, ident)
                    spool.write(record)
        spooled = spool.finish()
    if spooled.records == 0:
        remove_pull(spooled.path)
        remove_pull(pulled.spool_path)
        return None
    narrowed = PullResult(
        source=pulled.source,
        uri=pulled.uri,
        since=after,
        new_cursor=tracker.cursor,
        spool_path=spooled.path,
        sha256=spooled.sha256,
        size=spooled.size,
        records=spooled.records,
        columns=spooled.columns,
        pages=pulled.pages,
        requests=pulled.requests,
        retries=pulled.retries,
        passes=pulled.passes,
        fetched_at=pulled.fetched_at,
    )
    narrowed.save(key=key)  # described before the original goes: a crash leaves one or both, never none
    remove_pull(pulled.spool_path)
    return narrowed
