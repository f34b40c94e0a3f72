"""The push sensor: a landed batch is one run; a batch its run left pending is asked for again."""

from __future__ import annotations

import json
import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from config.settings import Settings
from config.sources import load_sources, resolve_path
from connectors.http_push import Landing
from orchestration.definitions import build_definitions

pytestmark = pytest.mark.slow
SENSOR = "psp_payments_push_sensor"


def _landing(settings: Settings) -> Landing:
    spec = next(s for s in load_sources(settings) if s.kind == "http_push")
    return Landing(resolve_path(settings, str(spec.options["landing_root"])))


def _land(landing: Landing, body: bytes = b"payment_id\nPAY-10000001\n") -> str:
    writer = landing.open_body(
        "payments", content_type="text/csv", gzip=False, max_bytes=1 << 20, max_decoded_bytes=1 << 20
    )
    writer.write(body)
    writer.finish()
    return landing.commit("payments", writer, content_type="text/csv", caller="psp").receipt.batch_id


def _tick(defs, sensor, instance):  # noqa: ANN001, ANN202
    return sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs)).run_requests or []


def test_a_batch_left_pending_by_failed_runs_is_requested_again_then_given_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.defs.ingest import sensors

    clock = {"now": time.time()}
    monkeypatch.setattr(sensors, "push_clock", lambda: clock["now"])
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def(SENSOR)
    landing = _landing(settings)
    batch_id = _land(landing)
    with DagsterInstance.ephemeral() as instance:
        [first] = _tick(defs, sensor, instance)
        assert first.tags["maestro/batch"] == batch_id
        assert first.run_config["ops"]["ingest_payments"]["config"]["inputs"] == [batch_id]

        # Its run starts: however many ticks, no second run for the batch.
        run = create_run_for_test(
            instance, tags={**first.tags, "dagster/run_key": first.run_key}, status=DagsterRunStatus.STARTED
        )
        assert _tick(defs, sensor, instance) == []
        # It fails (an error, or run monitoring found its worker dead) with the batch still pending.
        instance.report_run_failed(run)
        clock["now"] = time.time() + 31
        [second] = _tick(defs, sensor, instance)
        assert second.run_key == f"{first.run_key}:r2"
        assert second.run_config == first.run_config
        instance.report_run_failed(
            create_run_for_test(instance, tags={**second.tags, "dagster/run_key": second.run_key},
                                status=DagsterRunStatus.STARTED)
        )
        clock["now"] = time.time() + 100
        [third] = _tick(defs, sensor, instance)
        assert third.run_key == f"{first.run_key}:r3"
        third_run = create_run_for_test(instance, tags={**third.tags, "dagster/run_key": third.run_key},
                                        status=DagsterRunStatus.STARTED)
        instance.report_run_failed(third_run)
        clock["now"] = time.time() + 1000

        # Three runs ended without settling it: given up, moved to quarantine/ naming the runs.
        assert _tick(defs, sensor, instance) == []
    assert landing.pending("payments") == []
    error = json.loads((landing.dir("payments", "quarantine") / f"{batch_id}.error.json").read_text())
    assert third_run.run_id in error["error"] and "FAILURE" in error["error"]
    assert (landing.dir("payments", "quarantine") / f"{batch_id}.csv").exists()
