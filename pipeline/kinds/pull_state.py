"""Where an HTTP pull source resumes: the newest cursor its commits recorded in the lake.

The pull driver (:mod:`pipeline.kinds.pull`) writes a ``maestro.pull`` commitInfo entry — the
source, the position the pull started from and the new cursor — in the same atomic Delta commits
as the rows (through ``ingest_object(commit_metadata=...)``), so the cursor holds exactly when the
rows do. Before each pull, :func:`committed_cursor` reads the newest such entry of the source from
the bronze table's log. The local :class:`~connectors.http_pull.CursorStore` is only a cache; the
lake wins.

Log expiry. Delta keeps commitInfo only in the JSON commit files, and a writer that checkpoints
(delta-rs: every 100 commits) deletes commit files older than ``delta.logRetentionDuration``
(30 days by default) that a checkpoint covers. Application transactions (``txn``) are kept in
checkpoints for ever, commitInfo is not. So:

- while the log still shows the source's newest cursor commit, it is the answer;
- a pull that finds nothing new re-records the cursor in an empty commit (:func:`record_cursor`)
  once the newest record is older than a third of the log retention, so on a running schedule the
  answer never expires;
- if the log no longer starts at version 0 and shows no cursor of the source (the schedule did not
  run for longer than the retention), the cache answers, but only with a cursor whose commit's app
  id the table's transactions confirm (the pending entry is written before the commit, so even a
  crash between commit and cache is covered);
- if neither can answer, the pull stops with :class:`CursorStateError` saying how to set the
  cursor (``python -m pipeline.kinds.pull_state set-cursor``): guessing would lose or duplicate.

Authenticity. Every ``maestro.pull`` entry carries an HMAC made with the pull key
(:mod:`pipeline.kinds.pull_key`). An entry of the source without a valid one was written by
someone without the key (a forged cursor could move the source past records nobody would ever
pull): the pull stops with :class:`CursorStateError` naming the commit.

Upgrade. Before cursors were recorded in the lake, they lived only in the cursor file. A source
whose ingest commits are in the log but that has no ``maestro.pull`` entry yet resumes from that
file's cursor once (the next commit records it in the lake), or, without one, stops with the
same clear error instead of pulling everything again.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from contracts.model import Contract
from lake.delta import CommitResult, Lake, append_idempotent, open_table

if TYPE_CHECKING:  # the connector (httpx, pydantic) is imported when a pull runs
    from connectors.http_pull import Cursor, CursorStore, PullResult

PULL_KEY = "maestro.pull"
DEFAULT_LOG_RETENTION = timedelta(days=30)
_HISTORY_FIRST = 50  # commits read before falling back to the whole log
_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(\w+?)s?\s*$", re.IGNORECASE)
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


@dataclass(frozen=True)
class CommittedCursor:
    """The position a source's next pull starts from, and where that answer came from."""

    cursor: Cursor | None
    origin: Literal["lake", "cache", "none"]
    app_id: str | None = None
    """The app id of the commit that recorded it (an ingest or a cursor commit)."""
    version: int | None = None
    at: datetime | None = None


def pull_entry(
    source: str, cursor: Cursor | None, *, key: bytes, reason: str, since: Cursor | None = None,
    records: int = 0, fetched_at: datetime | None = None,
) -> dict[str, Any]:
    """The signed ``maestro.pull`` commitInfo entry recording ``cursor`` for ``source``."""
    from connectors.http_pull import sign_entry

    return sign_entry(key, {
        "source": source,
        "reason": reason,
        "since": since.to_dict() if since else None,
        "cursor": cursor.to_dict() if cursor else None,
        "records": records,
        "fetched_at": fetched_at.isoformat() if fetched_at else None,
    })


def pull_metadata(result: PullResult, *, key: bytes) -> dict[str, Any]:
    """The ``commit_metadata`` that records ``result``'s cursor with its rows."""
    entry = pull_entry(result.source, result.new_cursor, key=key, reason="pull", since=result.since,
                       records=result.records, fetched_at=result.fetched_at)
    return {PULL_KEY: entry}


def _entry(info: dict[str, Any], source: str) -> dict[str, Any] | None:
    raw = info.get(PULL_KEY)
    if raw is None:
        return None
    try:
        entry = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and entry.get("source") == source else None


def _from_lake(info: dict[str, Any], entry: dict[str, Any]) -> CommittedCursor:
    from connectors.http_pull import Cursor

    raw = entry.get("cursor")
    when = info.get("timestamp")
    return CommittedCursor(
        cursor=Cursor.from_dict(raw) if raw else None,
        origin="lake",
        app_id=info.get("maestro.app_id"),
        version=int(info["version"]) if "version" in info else None,
        at=datetime.fromtimestamp(int(when) / 1000, tz=UTC) if when is not None else None,
    )


def committed_cursor(
    lake: Lake, dataset: str, source: str, cache: CursorStore | None = None, *, key: bytes | None = None
) -> CommittedCursor:
    """The newest cursor ``source`` committed to ``dataset`` (see the module docstring).

    Args:
        key: the pull key; with it, an entry without a valid HMAC is refused (without it, entries
            are read unchecked: for display only).

    Raises:
        CursorStateError: the newest entry is not authentic, or the log has expired past it and
            no cached cursor is confirmed by the table.
    """
    from connectors.http_pull import CursorStateError, entry_verified

    uri = lake.table_uri("bronze", dataset)
    dt = open_table(uri, storage_options=lake.options())
    if dt is None:
        return CommittedCursor(None, "none")
    history: list[dict[str, Any]] = []
    for limit in (_HISTORY_FIRST, None):
        history = dt.history(limit) if limit else dt.history()
        for info in history:  # newest first
            entry = _entry(info, source)
            if entry is None:
                continue
            if key is not None and not entry_verified(key, entry):
                raise CursorStateError(
                    f"source {source!r}: the cursor entry in version {info.get('version')} of {uri} "
                    "has no valid HMAC: it was not written by this platform (or the pull key "
                    "changed). Not pulling from it: inspect that commit; to go on, record the last "
                    f"trusted cursor with: python -m pipeline.kinds.pull_state set-cursor {source} "
                    "<value> [--id <id>]"
                )
            return _from_lake(info, entry)
        if limit is not None and len(history) < limit:
            break  # that was the whole log
    ingested = any(info.get("maestro.source") == source for info in history)
    complete = not history or min(int(h.get("version", 0)) for h in history) == 0
    if complete and not ingested:
        return CommittedCursor(None, "none")  # the whole log: the source never committed
    cached = cache.load(source) if cache is not None else None
    if cached is not None:
        for cursor, app_id in ((cached.pending, cached.pending_app_id), (cached.cursor, cached.app_id)):
            if cursor is not None and app_id and dt.transaction_version(app_id) is not None:
                return CommittedCursor(cursor, "cache", app_id=app_id)
        if ingested and cached.cursor is not None and cached.app_id is None:
            return CommittedCursor(cached.cursor, "cache")  # upgrade: the file's cursor, once
    why = (
        "holds rows of the source but no cursor entry (written before cursors were recorded in "
        "the lake) and no cursor file to resume from"
        if ingested
        else "no longer shows the source's newest cursor (commit files older than "
        "delta.logRetentionDuration are removed once a checkpoint covers them) and no cached "
        "cursor is confirmed by the table"
    )
    raise CursorStateError(
        f"source {source!r}: the Delta log of {uri} {why}; pulling from the start would duplicate "
        "rows and guessing could skip some. Find the last committed position (e.g. the newest "
        "cursor field of the source's rows) and set it with: python -m "
        f"pipeline.kinds.pull_state set-cursor {source} <value> [--id <id>]"
    )


def log_retention(lake: Lake, dataset: str) -> timedelta:
    """The bronze table's ``delta.logRetentionDuration`` (30 days when unset or unreadable)."""
    dt = open_table(lake.table_uri("bronze", dataset), storage_options=lake.options())
    raw = dt.metadata().configuration.get("delta.logRetentionDuration") if dt is not None else None
    match = _INTERVAL.match(raw or "")
    if match is None or match.group(2).lower() not in _UNITS:
        return DEFAULT_LOG_RETENTION
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])


def refresh_due(committed: CommittedCursor, retention: timedelta, now: datetime) -> bool:
    """Whether the cursor should be recorded again before the log can expire it."""
    if committed.cursor is None:
        return False
    if committed.origin == "cache" or committed.at is None:
        return True
    return now - committed.at >= retention / 3


def record_cursor(
    lake: Lake, contract: Contract, source: str, cursor: Cursor, *, key: bytes, reason: str
) -> CommitResult:
    """Record ``cursor`` for ``source`` in an empty bronze commit (no rows, one txn)."""
    from contracts.enforce import bronze_schema

    return append_idempotent(
        lake.table_uri("bronze", contract.name),
        iter(()),
        schema=bronze_schema(contract),
        app_id=f"maestro-pull-cursor:{source}:{uuid.uuid4().hex}",
        metadata={PULL_KEY: pull_entry(source, cursor, key=key, reason=reason)},
        storage_options=lake.options(),
        name=f"bronze_{contract.name}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``show <source>`` or ``set-cursor <source> <value> [--id ID]`` against the configured lake."""
    from config.settings import Settings
    from config.sources import load_sources
    from connectors.http_pull import Cursor, CursorStateError
    from contracts.loader import load_contracts
    from pipeline.kinds.pull_key import pull_key
    from pipeline.run import lake_for

    parser = argparse.ArgumentParser(
        prog="python -m pipeline.kinds.pull_state", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the source's committed cursor")
    show.add_argument("source")
    put = sub.add_parser("set-cursor", help="record a cursor for the source in the lake")
    put.add_argument("source")
    put.add_argument("value")
    put.add_argument("--id", default=None, help="the record id of the position (keyset)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    contracts = load_contracts(settings.contracts_dir)
    specs = {s.name: s for s in load_sources(settings, datasets=set(contracts)) if s.kind == "http_pull"}
    if args.source not in specs:
        parser.error(f"no http_pull source {args.source!r} in {settings.sources_file}")
    spec, lake = specs[args.source], lake_for(settings)
    if args.command == "set-cursor":
        done = record_cursor(lake, contracts[spec.dataset], spec.name, Cursor(args.value, args.id),
                             key=pull_key(settings.keys_dir), reason="operator")
        print(f"recorded cursor {Cursor(args.value, args.id).text()} for {spec.name} in {done.table_uri} "
              f"version {done.version}")
        return 0
    try:
        found = committed_cursor(lake, spec.dataset, spec.name, key=pull_key(settings.keys_dir))
    except CursorStateError as err:
        print(err)
        return 1
    print(json.dumps({"source": spec.name, "cursor": found.cursor.to_dict() if found.cursor else None,
                      "origin": found.origin, "version": found.version,
                      "at": found.at.isoformat() if found.at else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
