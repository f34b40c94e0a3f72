"""The retry sweeper: a failed run Dagster meant to retry, and did not, gets its retry once."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.types import DaemonHeartbeat

from config.settings import Settings
from orchestration.defs.recovery.sensors import GRACE_S, build_retry_sweeper, runs_missing_their_retry
from orchestration.instance import prepare_instance

INPUT = {"ops": {"ingest_orders": {"config": {"inputs": ["/landing/drop/orders/a.csv"]}}}}
SELECTION = frozenset({dg.AssetKey(["bronze", "orders"]), dg.AssetKey(["quarantine", "orders"])})


def _failed(instance: dg.DagsterInstance, **tags: str):  # noqa: ANN202
    return create_run_for_test(
        instance, job_name="__ASSET_JOB", status=DagsterRunStatus.FAILURE, run_config=INPUT,
        asset_selection=SELECTION, tags={"maestro/file": "a.csv", **tags},
    )


def _consumer_beat(instance: dg.DagsterInstance, at: float) -> None:
    instance.add_daemon_heartbeat(DaemonHeartbeat(at, "EVENT_LOG_CONSUMER", "test", None))


def test_a_failed_run_that_missed_its_retry_is_requested_again_once(settings: Settings) -> None:
    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        missed = _failed(instance, **{"dagster/will_retry": "true"})
        _failed(instance, **{"dagster/will_retry": "true", "dagster/auto_retry_run_id": "x"})
        _failed(instance, **{"dagster/will_retry": "false"})
        _consumer_beat(instance, time.time() + GRACE_S + 1)  # the consumer lived on after the failures
        assert [r.run_id for r in runs_missing_their_retry(instance)] == [missed.run_id]

        result = build_retry_sweeper()(dg.build_sensor_context(instance=instance))
        (request,) = result.run_requests
        assert request.run_key == f"retry-of:{missed.run_id}"
        assert request.run_config == INPUT and set(request.asset_selection) == SELECTION
        assert request.tags["maestro/file"] == "a.csv" and request.tags["maestro/retry_of"] == missed.run_id
        assert not any(k.startswith("dagster/") for k in request.tags)


def test_nothing_is_swept_while_the_daemon_may_still_retry_it(settings: Settings) -> None:
    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        _failed(instance, **{"dagster/will_retry": "true"})
        assert runs_missing_their_retry(instance) == []  # no consumer heartbeat since the failure
        _consumer_beat(instance, time.time() + 1)
        assert runs_missing_their_retry(instance) == []  # alive, but within its grace period
        result = build_retry_sweeper()(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)


def test_a_run_that_was_swept_twice_is_left_to_a_person(settings: Settings) -> None:
    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        _failed(instance, **{"dagster/will_retry": "true", "maestro/sweeps": "2"})
        _consumer_beat(instance, time.time() + GRACE_S + 1)
        assert runs_missing_their_retry(instance) == []
