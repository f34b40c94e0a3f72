"""A safety net under Dagster's run retries: a failed run that was due a retry gets one.

Dagster retries a failed run from its daemon's event-log consumer (``run_retries`` in
``dagster.yaml``, see :mod:`orchestration.instance`). Two gaps were found by killing the
orchestrator: the consumer may read the run's failure event before the run's status says FAILURE
(the event is stored first, the status and the ``dagster/will_retry`` tag a moment later), and
then passes over it for good; and a retry launched while the code server is down fails once and
is never tried again. The run stays failed, its input unread: a sensor will not request it again
(its run key is spent), so nothing is lost only as long as somebody notices.

``run_retry_sweeper`` notices. Every :data:`INTERVAL_S` it looks at the runs that failed within
:data:`LOOKBACK_S` and requests a new run for each that

- Dagster itself decided to retry (``dagster/will_retry`` is ``true``), yet
- has no retry (no ``dagster/auto_retry_run_id`` tag, no run in its group naming it as parent),
- although the daemon's event-log consumer has been alive for :data:`GRACE_S` since the failure
  (its heartbeat says so): it had its chance.

The new run materializes the same assets with the same run config (a sensor's run keeps naming
its input) and the failed run's own tags, plus ``maestro/retry_of``; its run key
(``retry-of:<run id>``) makes the request happen once. A run that is itself a sweep is swept
again at most :data:`MAX_SWEEPS` times in a row. Re-running is safe: ingest is idempotent.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

__all__ = ["GRACE_S", "INTERVAL_S", "build_retry_sweeper", "runs_missing_their_retry"]

INTERVAL_S = 30
GRACE_S = 60.0
LOOKBACK_S = 24 * 3600.0
MAX_SWEEPS = 2
RETRY_OF_TAG = "maestro/retry_of"
SWEEPS_TAG = "maestro/sweeps"


def _consumer_alive_until(instance: Any) -> float:
    beat = instance.get_daemon_heartbeats().get("EVENT_LOG_CONSUMER")
    return float(beat.timestamp) if beat is not None else 0.0


def runs_missing_their_retry(instance: Any, *, now: float | None = None) -> list[Any]:
    """Failed runs Dagster meant to retry but did not (see the module docstring), oldest first."""
    now = time.time() if now is None else now
    consumer_seen = _consumer_alive_until(instance)
    records = instance.get_run_records(
        filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE], updated_after=_utc(now - LOOKBACK_S)),
        limit=500,
    )
    out = []
    for record in records:
        run, ended = record.dagster_run, record.end_time or record.update_timestamp.timestamp()
        if run.tags.get("dagster/will_retry") != "true" or run.tags.get("dagster/auto_retry_run_id"):
            continue
        if consumer_seen < ended + GRACE_S or int(run.tags.get(SWEEPS_TAG, "0")) >= MAX_SWEEPS:
            continue
        _, group = instance.get_run_group(run.run_id) or (None, [])
        if any(r.parent_run_id == run.run_id for r in group):
            continue
        out.append(run)
    return sorted(out, key=lambda r: r.run_id)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def retry_request(run: Any) -> dg.RunRequest:
    """A fresh run of what ``run`` was materializing, as ``run`` was asked to."""
    tags = {k: v for k, v in run.tags.items() if not k.startswith("dagster/")}
    tags[RETRY_OF_TAG] = run.run_id
    tags[SWEEPS_TAG] = str(int(run.tags.get(SWEEPS_TAG, "0")) + 1)
    return dg.RunRequest(
        run_key=f"retry-of:{run.run_id}",
        run_config=run.run_config,
        asset_selection=sorted(run.asset_selection, key=lambda k: k.to_user_string()),
        tags=tags,
    )


def build_retry_sweeper() -> dg.SensorDefinition:
    @dg.sensor(
        name="run_retry_sweeper",
        description="Requests the retry Dagster meant to launch for a failed run but did not "
        "(see orchestration/defs/recovery/sensors.py).",
        asset_selection=dg.AssetSelection.all(),
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def run_retry_sweeper(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        missing = runs_missing_their_retry(context.instance)
        requests, manual = [], []
        for run in missing:
            if run.asset_selection:
                requests.append(retry_request(run))
            else:
                manual.append(run.run_id)
        for run_id in manual:
            context.log.warning(f"run {run_id} failed and was not retried; re-execute it from the UI")
        if not requests:
            return dg.SkipReason(f"no failed run is missing its retry ({len(manual)} need a person)")
        context.log.info(f"retrying {len(requests)} failed run(s) Dagster did not retry: "
                         + ", ".join(r.tags[RETRY_OF_TAG] for r in requests))
        return dg.SensorResult(run_requests=requests)

    return run_retry_sweeper
