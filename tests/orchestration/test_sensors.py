"""The file-drop sensor: a dropped file becomes exactly one run request, however often it ticks."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from dagster import DagsterInstance, build_sensor_context

from config.settings import Settings
from config.sources import load_sources, resolve_path
from orchestration.definitions import build_definitions

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _drop_folder(settings: Settings) -> Path:
    spec = next(s for s in load_sources(settings) if s.kind == "file_drop")
    folder = resolve_path(settings, spec.options["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _tick(defs, sensor, instance, cursor):  # noqa: ANN001, ANN202
    ctx = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    result = sensor.evaluate_tick(ctx)
    return result.run_requests or [], result.cursor


def test_a_dropped_file_gets_exactly_one_run_however_many_ticks(settings: Settings) -> None:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    with DagsterInstance.ephemeral() as instance:
        requests, cursor = _tick(defs, sensor, instance, None)
        assert requests == []

        # A file still being written (temporary suffix) is not picked up.
        part = folder / "orders_2026-11-01.csv.part"
        shutil.copy2(SAMPLES / "orders" / "orders_2026-11-01.csv", part)
        requests, cursor = _tick(defs, sensor, instance, cursor)
        assert requests == []

        os.rename(part, folder / "orders_2026-11-01.csv")
        old = time.time() - 30
        os.utime(folder / "orders_2026-11-01.csv", (old, old))
        seen = []
        for _ in range(5):
            requests, cursor = _tick(defs, sensor, instance, cursor)
            seen += requests
        assert len(seen) == 1
        request = seen[0]
        assert request.run_key and request.tags["maestro/file"] == "orders_2026-11-01.csv"
        files = request.run_config["ops"]["ingest_orders"]["config"]["inputs"]
        assert files == [str(folder / "orders_2026-11-01.csv")]

        # A second, different file is one more run; the first is still not repeated.
        shutil.copy2(SAMPLES / "orders" / "orders_2026-11-02.csv", folder / "orders_2026-11-02.csv")
        os.utime(folder / "orders_2026-11-02.csv", (old, old))
        more = []
        for _ in range(3):
            requests, cursor = _tick(defs, sensor, instance, cursor)
            more += requests
        assert [r.tags["maestro/file"] for r in more] == ["orders_2026-11-02.csv"]
        assert more[0].run_key != request.run_key
