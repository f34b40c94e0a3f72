"""When the drop sensor asks (again) for a run of a file: the decision and the sensor's memory,
free of Dagster (the sensor turns Dagster's run records into :class:`PastRun`).

Every request for a file carries its *drop key* (``<source>:<sha256>:<mtime_ns>``), the first one
as its run key too. From the runs Dagster holds for a drop key and what the cursor remembers:

- a run for the file is queued, starting or running: wait. So there are never two runs for one
  file at once from this sensor; should a retry and a request still overlap, the claim makes the
  second run find nothing to do;
- no run yet: request it under the drop key; but not again within ``retry_after`` of a request
  (the daemon may be creating the run). A run created but never launched (``NOT_STARTED``: the
  daemon died in between) older than ``retry_after`` is requested again under its own run key,
  which makes Dagster launch that very run;
- only finished runs, and the file is still (or again) in the folder — it failed and was put back,
  or its run died and the next run put it back: request again under a new run key
  (``<drop key>:r<n>``), ``retry_after × 2^(n-1)`` (at most an hour) after the last run ended;
- a file stranded in a claim whose owner is gone: whatever Dagster still says about that run, it
  is dead (its lock is free), so it is requested again without waiting for it.

The cursor (JSON) maps each file's identity (device, inode, size, mtime) to its sha256, when it was
last requested and when to look at it next, so a tick reads no file twice and asks Dagster only
about files that are due; and it lists the ignored entries already reported, so each is reported
once. Entries of files that left the folder are forgotten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from connectors.file_drop.scan import DroppedFile, IgnoredEntry

MAX_BACKOFF_S = 3600.0
State = Literal["in_flight", "not_started", "finished"]


@dataclass(frozen=True)
class PastRun:
    """One run Dagster holds for a drop key."""

    run_key: str | None
    state: State
    created_at: float
    ended_at: float | None = None


@dataclass(frozen=True)
class Decision:
    run_key: str | None
    """The run key to request, or None to wait."""
    not_before: float
    """When to look at the file again."""
    why: str


def decide(
    *, drop_key: str, requested_at: float | None, runs: Sequence[PastRun], now: float, retry_after: float,
    stranded: bool = False,
) -> Decision:
    """Whether to request a run for a file in the folder now, under which run key (module docstring)."""
    recently = requested_at is not None and now - requested_at < retry_after
    again = (requested_at or now) + retry_after
    if recently:
        return Decision(None, again, "requested moments ago")
    if not stranded and any(r.state == "in_flight" for r in runs):
        return Decision(None, now + retry_after, "a run for it is queued or running")
    waiting = [r for r in runs if r.state == "not_started"]
    if waiting:
        newest = max(waiting, key=lambda r: r.created_at)
        if now - newest.created_at < retry_after:
            return Decision(None, newest.created_at + retry_after, "its run is being launched")
        return Decision(newest.run_key or drop_key, now + retry_after, "its run was created, never launched")
    if not runs:
        return Decision(drop_key, now + retry_after, "new file")
    last_end = max((r.ended_at or r.created_at) for r in runs)
    delay = min(retry_after * 2 ** (len(runs) - 1), MAX_BACKOFF_S)
    if not stranded and now - last_end < delay:
        return Decision(None, last_end + delay, f"back in the folder after {len(runs)} run(s); backing off")
    used = {r.run_key for r in runs}
    n = len(runs) + 1
    while f"{drop_key}:r{n}" in used:
        n += 1
    return Decision(f"{drop_key}:r{n}", now + retry_after, f"still in the folder after {len(runs)} run(s)")


class DropCursor:
    """The sensor's memory between ticks (see the module docstring); ``dump()`` is the cursor."""

    def __init__(self, files: dict[str, list[object]] | None = None, reported: Iterable[str] = ()) -> None:
        self.files: dict[str, list[object]] = files or {}  # ident -> [sha256, requested_at, not_before]
        self.reported: set[str] = set(reported)
        self._seen: set[str] = set()
        self._present: set[str] = set()

    @classmethod
    def load(cls, raw: str | None) -> DropCursor:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict) or data.get("v") != 2:
            return cls()  # none yet, or an older format: Dagster's own runs are the memory then
        return cls(dict(data.get("files") or {}), data.get("reported") or ())

    def dump(self) -> str:
        files = {k: v for k, v in self.files.items() if k in self._seen}
        reported = sorted(self.reported & self._present)
        return json.dumps({"v": 2, "files": files, "reported": reported}, sort_keys=True)

    def known_hashes(self) -> dict[str, str]:
        return {ident: str(v[0]) for ident, v in self.files.items() if v and v[0]}

    def due(self, f: DroppedFile, now: float) -> bool:
        """Mark ``f`` seen; whether it is time to look at it again."""
        self._seen.add(f.ident)
        entry = self.files.get(f.ident)
        return entry is None or now >= float(entry[2] or 0)  # type: ignore[arg-type]

    def requested_at(self, f: DroppedFile) -> float | None:
        entry = self.files.get(f.ident)
        return float(entry[1]) if entry and entry[1] is not None else None  # type: ignore[arg-type]

    def record(self, f: DroppedFile, decision: Decision, now: float) -> None:
        entry = self.files.get(f.ident) or [f.sha256, None, 0]
        entry[0] = f.sha256 or entry[0]
        if decision.run_key is not None:
            entry[1] = now
        entry[2] = decision.not_before
        self.files[f.ident] = entry

    def to_report(self, ignored: Iterable[IgnoredEntry]) -> list[IgnoredEntry]:
        """The ignored entries not reported yet (each is reported once, while it stays)."""
        out = []
        for e in ignored:
            self._present.add(e.key)
            if e.key not in self.reported:
                self.reported.add(e.key)
                out.append(e)
        return out
