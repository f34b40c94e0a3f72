"""When the push sensor asks (again) for a run of a landed batch: the decision, free of Dagster.

A landed batch is pending until an ingest run marks it processed or failed. A run can end without
doing so: it failed (an unexpected error), it was killed (run monitoring then marks it failed),
or the process died between the lake commit and the marking. The batch must then be ingested
again, and never twice at once. Every request for a batch carries the tag ``maestro/batch``; from
the runs Dagster holds for it (the sensor turns them into :class:`PastRun`):

- a run queued, starting or running: wait;
- a run created but never launched (``NOT_STARTED``: the daemon died in between) for longer than
  ``retry_after_s``: request it again under its own run key, which makes Dagster launch that run;
- no run: request ``<source>:<batch id>:<sha256>``;
- only finished runs, the batch still pending: request again under ``...:r<n>``, once
  ``retry_after_s x 2^(n-2)`` (at most an hour) have passed since the last run ended. A re-run of
  a batch whose rows were committed commits nothing (the lake's idempotent commit) and marks it;
- ``max_attempts`` finished runs and the batch still pending: give up. The sensor moves the batch
  to the landing's ``quarantine/`` with an error naming the runs, so a batch that crashes every
  run never stays pending for ever (nothing is deleted; it can be moved back by hand).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MAX_BACKOFF_S = 3600.0
DEFAULT_RETRY_AFTER_S = 30.0
DEFAULT_MAX_ATTEMPTS = 3
State = Literal["in_flight", "not_started", "finished"]


@dataclass(frozen=True)
class PastRun:
    """One run Dagster holds for a batch."""

    run_id: str
    run_key: str | None
    state: State
    status: str
    created_at: float
    ended_at: float | None = None


@dataclass(frozen=True)
class Decision:
    run_key: str | None
    """The run key to request, or None (wait, or give up)."""
    why: str
    give_up: str | None = None
    """When set, the error to quarantine the batch with."""


def decide(
    *,
    base_key: str,
    runs: Sequence[PastRun],
    now: float,
    retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Decision:
    """Whether to request a run for a pending batch now, under which key (module docstring)."""
    if any(r.state == "in_flight" for r in runs):
        return Decision(None, "a run for it is queued or running")
    waiting = [r for r in runs if r.state == "not_started"]
    if waiting:
        newest = max(waiting, key=lambda r: r.created_at)
        if now - newest.created_at < retry_after_s:
            return Decision(None, "its run is being launched")
        return Decision(newest.run_key or base_key, "its run was created, never launched")
    if not runs:
        return Decision(base_key, "new batch")
    if len(runs) >= max_attempts:
        listed = ", ".join(f"{r.run_id} ({r.status})" for r in sorted(runs, key=lambda r: r.created_at))
        return Decision(
            None,
            "given up",
            give_up=f"ingest ended {len(runs)} times without settling this batch (runs {listed}); "
            "see those runs' logs, fix the cause and move the batch back to batches/ to retry",
        )
    last_end = max(r.ended_at or r.created_at for r in runs)
    delay = min(retry_after_s * 2 ** (len(runs) - 1), MAX_BACKOFF_S)
    if now - last_end < delay:
        return Decision(None, f"still pending after {len(runs)} run(s); backing off")
    used = {r.run_key for r in runs}
    n = len(runs) + 1
    while f"{base_key}:r{n}" in used:
        n += 1
    return Decision(f"{base_key}:r{n}", f"still pending after {len(runs)} run(s)")
