"""Sensors: data that lands becomes exactly one ingest run, with nobody clicking anything.

One sensor per event-driven source (file drop, push landing, S3 prefix). Each requests one run per
input with a run key derived from the input's content or version, and a run config naming that
input, so a sensor that ticks many times, restarts or loses its cursor requests nothing twice
(Dagster skips run keys it has seen). The runs materialize the dataset's ingest and everything
downstream (dbt models, catalog, metrics, ledger checkpoint).

- file drop: run key ``<source>:<sha256>:<mtime_ns>`` — the same file seen on many ticks is one
  run; the same bytes dropped again later are a new run, which finds them committed, commits
  nothing and archives them. A file still in the folder after its run failed, died or never
  started is requested again (``...:r<n>``, with backoff), never while a run for it is in flight
  (:mod:`connectors.file_drop.pending`); entries it will not ingest are reported once;
- push: ``<source>:<batch id>:<sha256>`` per landed batch; ``...:r<n>`` when it is still pending
  after its run ended, up to a few attempts (:mod:`connectors.http_push.pending`);
- S3: ``<source>:<hash of bucket, key, ETag, version>``; what counts as ingested is read from the
  lake's own commits each tick, so a crash between a commit and any cursor save neither loses nor
  repeats an object.
"""

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

import faults
from config.settings import Settings
from config.sources import SourceSpec, resolve_path
from connectors.file_drop import DropFolder, FileDropConfig
from connectors.file_drop.pending import DropCursor, PastRun, decide
from orchestration.defs.ingest.assets import bronze_key, ingest_op_name, quarantine_key


def _request(spec: SourceSpec, run_key: str, input_ref: str, tags: Mapping[str, str]) -> dg.RunRequest:
    """A run of ``spec``'s dataset ingest restricted to one input."""
    return dg.RunRequest(
        run_key=f"{spec.name}:{run_key}",
        run_config={"ops": {ingest_op_name(spec.dataset): {"config": {"inputs": [input_ref]}}}},
        tags={"maestro/source": spec.name, **tags},
    )


def _sensor(spec: SourceSpec, what: str, *, interval_s: int, downstream: bool) -> Callable[..., Any]:
    """The ``@sensor`` decorator shared by every source sensor (name, selection, default on)."""
    selection = dg.AssetSelection.assets(bronze_key(spec.dataset), quarantine_key(spec.dataset))
    return dg.sensor(
        name=f"{spec.name}_sensor",
        description=f"Ingests {what} ({spec.name}).",
        asset_selection=selection.downstream() if downstream else selection,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def build_drop_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor watching ``spec``'s drop folder (the decisions: :mod:`connectors.file_drop.pending`).

    Each tick lists the folder (hashing only files it has not seen), requests a run per complete
    file that needs one — new, or still in the folder after its run failed, died or never started —
    and reports every entry it will not ingest (wrong name, a zip, a folder ...) once, in the tick's
    log and, on a tick without runs, its skip reason: both visible in the UI.
    """

    @_sensor(spec, f"files dropped into the {spec.dataset} drop folder", interval_s=5, downstream=downstream)
    def drop_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        settings = Settings.from_env()
        config = FileDropConfig.from_dict(spec.as_config())
        folder = DropFolder(config, base_dir=settings.repo_root)
        cursor = DropCursor.load(context.cursor)
        scan = folder.scan(known=cursor.known_hashes(), hash_new=False)
        faults.point("drop.sensor.after_list")
        now = _now()
        run_requests, why = [], []
        budget = MAX_DROP_FILES_PER_TICK
        for f in scan.ready:
            if not cursor.due(f, now) or budget <= 0:
                continue
            budget -= 1
            hashed = folder.hashed(f)
            if hashed is None:
                continue  # changed or gone since listed: next tick
            drop_key = f"{spec.name}:{hashed.run_key}"
            decision = decide(
                drop_key=drop_key, requested_at=cursor.requested_at(hashed), now=now,
                runs=_past_runs(context.instance, drop_key), retry_after=config.rerequest_after_seconds,
                stranded=hashed.stranded is not None,
            )
            cursor.record(hashed, decision, now)
            if decision.run_key is None:
                continue
            name = _shown(hashed.path.name)
            why.append(f"{name} ({decision.why})")
            tags = {"maestro/file": name, "maestro/sha256": hashed.sha256 or "", DROP_KEY_TAG: drop_key}
            run_requests.append(_request(spec, decision.run_key.removeprefix(f"{spec.name}:"),
                                         _input_ref(hashed.path), tags))
        if why:
            more = f" and {len(why) - 10} more" if len(why) > 10 else ""
            context.log.info(f"{spec.name}: requesting runs for {', '.join(why[:10])}{more}")
        reported = cursor.to_report(scan.ignored)
        for e in reported:
            context.log.warning(f"{spec.name}: not ingested: {_shown(str(e.path))}: {e.reason}")
        skip = None
        if not run_requests:
            skip = "; ".join(f"not ingested: {_shown(e.path.name)}: {e.reason}" for e in reported[:10])
        return dg.SensorResult(run_requests=run_requests, cursor=cursor.dump(), skip_reason=skip or None)

    return drop_sensor


DROP_KEY_TAG = "maestro/drop_key"
_now = time.time  # the drop sensor's clock (tests move it)
# Files a tick looks at closely (hashes if new, asks Dagster about its runs); the rest are due on the
# next ticks, so a tick over a large backlog stays short.
MAX_DROP_FILES_PER_TICK = 200


def _past_runs(instance: dg.DagsterInstance, drop_key: str) -> list[PastRun]:
    """The runs Dagster holds for a file (requests carry its drop key; the very first request of
    an older version had it only as its run key)."""
    records = instance.get_run_records(dg.RunsFilter(tags={DROP_KEY_TAG: drop_key})) or \
        instance.get_run_records(dg.RunsFilter(tags={"dagster/run_key": drop_key}))
    out = []
    for r in records:
        status = r.dagster_run.status
        state = ("not_started" if status == dg.DagsterRunStatus.NOT_STARTED
                 else "in_flight" if status in NOT_FINISHED_STATUSES else "finished")
        out.append(PastRun(r.dagster_run.tags.get("dagster/run_key"), state, r.create_timestamp.timestamp(),
                           r.end_time))
    return out


def _shown(name: str) -> str:
    """A file name as text (bytes that are not UTF-8 shown as escapes)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _input_ref(path: Path) -> str:
    """How a run config names a file: its path, or its file URI when the name is not UTF-8."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return path.as_uri()
    return str(path)


def build_push_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor turning batches landed by the push endpoint into ingest runs (one per batch).

    A batch still pending after its run ended (failed, killed, crashed before marking it) is
    requested again, never while a run for it is in flight, and given up (moved to the landing's
    quarantine with the runs named) after a few attempts: :mod:`connectors.http_push.pending`.
    """
    from connectors.http_push.exceptions import LandingError
    from connectors.http_push.landing import Landing
    from connectors.http_push.pending import decide

    @_sensor(
        spec, f"batches partners push to the {spec.dataset} endpoint", interval_s=5, downstream=downstream
    )
    def push_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        landing = Landing(resolve_path(Settings.from_env(), str(spec.options["landing_root"])))
        now = push_clock()
        run_requests = []
        for b in landing.pending(spec.dataset)[:MAX_PUSH_REQUESTS_PER_TICK]:
            base_key = f"{spec.name}:{b.batch_id}:{b.receipt.sha256}"
            decision = decide(base_key=base_key, runs=_batch_runs(context.instance, spec.name, b.batch_id),
                              now=now)
            if decision.give_up:
                context.log.error(f"{spec.name}: batch {b.batch_id} quarantined: {decision.give_up}")
                with contextlib.suppress(LandingError):  # a run settled it meanwhile
                    landing.mark_failed(spec.dataset, b.batch_id, error=decision.give_up)
                continue
            if decision.run_key is None:
                continue
            context.log.info(f"{spec.name}: requesting a run for batch {b.batch_id} ({decision.why})")
            tags = {"maestro/batch": b.batch_id, "maestro/sha256": b.receipt.sha256}
            run_requests.append(
                _request(spec, decision.run_key.removeprefix(f"{spec.name}:"), b.batch_id, tags)
            )
        return dg.SensorResult(run_requests=run_requests)

    return push_sensor


push_clock = time.time  # the push sensor's clock (tests move it)
MAX_PUSH_REQUESTS_PER_TICK = 200


def _batch_runs(instance: dg.DagsterInstance, source: str, batch_id: str) -> list[Any]:
    """The runs Dagster holds for a landed batch, as :class:`connectors.http_push.pending.PastRun`."""
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    from connectors.http_push.pending import PastRun, State

    tags = {"maestro/batch": batch_id, "maestro/source": source}
    records = instance.get_run_records(dg.RunsFilter(tags=tags))
    out = []
    for r in records:
        status = r.dagster_run.status
        state: State = ("not_started" if status == dg.DagsterRunStatus.NOT_STARTED
                        else "in_flight" if status in NOT_FINISHED_STATUSES else "finished")
        out.append(PastRun(r.dagster_run.run_id, r.dagster_run.tags.get("dagster/run_key"), state,
                           status.value, r.create_timestamp.timestamp(), r.end_time))
    return out


def build_s3_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor requesting one run per new S3 object version."""

    @_sensor(
        spec,
        f"new or changed objects under the {spec.dataset} S3 prefix",
        interval_s=30,
        downstream=downstream,
    )
    def s3_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from connectors.exceptions import ConnectorError
        from connectors.s3.source import S3Source
        from connectors.s3.state import ingested_from_manifests, run_key
        from pipeline.run import committed_manifests, lake_for

        lake = lake_for(Settings.from_env())
        ingested = ingested_from_manifests(committed_manifests(lake, spec.dataset))
        try:
            objects = S3Source.from_dict(spec.as_config(), ingested=ingested).discover()
        except ConnectorError as err:  # the daemon keeps running; the tick says why
            return dg.SkipReason(str(err))
        return dg.SensorResult(
            run_requests=[
                _request(
                    spec,
                    run_key(obj),
                    obj.uri,
                    {"maestro/object": obj.uri, "maestro/etag": (obj.etag or "").strip('"')},
                )
                for obj in objects
            ]
        )

    return s3_sensor
