"""The file-drop sensor: a dropped file becomes exactly one run request, however often it ticks."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context

from config.settings import Settings
from config.sources import load_sources, resolve_path
from orchestration.definitions import build_definitions

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"


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


def _complete(path: Path) -> Path:
    old = time.time() - 30
    os.utime(path, (old, old), follow_symlinks=False)
    return path


def _requests_over(defs, sensor, instance, cursor, ticks=1):  # noqa: ANN001, ANN202
    seen = []
    for _ in range(ticks):
        requests, cursor = _tick(defs, sensor, instance, cursor)
        seen += requests
    return seen, cursor


def test_a_symlink_swapped_in_between_sensor_and_run_makes_the_run_read_nothing_outside(
    settings: Settings,
) -> None:
    from config.sources import load_sources
    from contracts.loader import load_contracts
    from lake.delta import table_facts
    from pipeline.run import ingest_dataset, lake_for

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    name = "orders_2026-11-01.csv"
    _complete(Path(shutil.copy2(SAMPLES / "orders" / name, folder / name)))
    secret = settings.home / "keys" / "partner.csv"  # readable by the platform, valid orders rows
    secret.parent.mkdir(parents=True)
    shutil.copy2(SAMPLES / "orders" / "orders_2026-11-02.csv", secret)
    with DagsterInstance.ephemeral() as instance:
        [request], _ = _requests_over(defs, sensor, instance, None)

    # Between the tick and the run, the attacker replaces the listed file with a link to the secret.
    os.rename(folder / name, settings.home / "moved-away.csv")
    os.symlink(secret, folder / name)
    inputs = request.run_config["ops"]["ingest_orders"]["config"]["inputs"]
    spec = [s for s in load_sources(settings) if s.kind == "file_drop"]
    report = ingest_dataset(settings, load_contracts()["orders"], spec, inputs=inputs, publish=False)

    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 0
    assert table_facts(lake_for(settings).table_uri("quarantine", "orders"))["rows"] == 0
    assert secret.read_bytes() == (SAMPLES / "orders" / "orders_2026-11-02.csv").read_bytes()
    [err] = report.input_errors
    assert "symbolic link" in err["error"] and "_quarantine" in err["input"]
    assert os.readlink(err["input"]) == str(secret)  # the link was moved aside, never followed


def test_a_file_still_in_the_folder_after_its_run_failed_is_requested_again_never_while_one_runs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    from orchestration.defs.ingest import sensors

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    _complete(Path(shutil.copy2(SAMPLES / "orders" / "orders_2026-11-01.csv", folder / "orders_a.csv")))
    t0 = time.time()
    clock = {"now": t0}
    monkeypatch.setattr(sensors, "_now", lambda: clock["now"])
    with DagsterInstance.ephemeral() as instance:
        [first], cursor = _requests_over(defs, sensor, instance, None)
        # The run was requested but the daemon died before creating it: asked again after the bound.
        clock["now"] = t0 + 10
        assert _requests_over(defs, sensor, instance, cursor, ticks=3)[0] == []
        clock["now"] = t0 + 31
        [again], cursor = _requests_over(defs, sensor, instance, cursor)
        assert again.run_key == first.run_key  # nothing was ever created under it

        # Its run starts: however long it runs, no second run is requested for the file.
        tags = {**first.tags, "dagster/run_key": first.run_key}
        run = create_run_for_test(instance, tags=tags, status=DagsterRunStatus.STARTED)
        for later in (65, 500, 3000):
            clock["now"] = t0 + later
            assert _requests_over(defs, sensor, instance, cursor)[0] == []

        # It fails and puts the file back: requested again, under a new run key (the backoff after
        # a failure is in test_pending.py; here it has long passed).
        instance.report_run_failed(run)
        [retry], cursor = _requests_over(defs, sensor, instance, cursor)
        assert retry.run_key == f"{first.run_key}:r2"
        assert retry.tags["maestro/drop_key"] == first.tags["maestro/drop_key"]
        assert retry.run_config == first.run_config


def test_entries_that_are_not_ingested_are_reported_once_and_x_csv_and_zips_are_ingested(
    settings: Settings,
) -> None:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    (folder / "notes.txt").write_text("x\n")
    _complete(folder / "notes.txt")
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, cursor=None, definitions=defs)
        first = sensor.evaluate_tick(ctx)
        assert first.run_requests == []
        assert "notes.txt" in first.skip_message and "matches none of the patterns" in first.skip_message
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor,
                                                          definitions=defs))
        assert not again.skip_message or "notes.txt" not in again.skip_message  # once per file

        shutil.copy2(SAMPLES / "orders" / "orders_2026-11-03.csv", folder / "ORDERS_2026-11-03.CSV")
        _complete(folder / "ORDERS_2026-11-03.CSV")
        (folder / "orders.zip").write_text("x\n")  # a zip archive is read: one input per member
        _complete(folder / "orders.zip")
        requests, _ = _tick(defs, sensor, instance, again.cursor)
        assert sorted(r.tags["maestro/file"] for r in requests) == ["ORDERS_2026-11-03.CSV", "orders.zip"]


def test_the_sensor_reads_each_file_once_however_many_ticks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.file_drop import scan

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    for i in range(40):
        (folder / f"orders_{i:03d}.csv").write_text("order_id\nORD-000001\n")
        _complete(folder / f"orders_{i:03d}.csv")
    opened = []
    real = scan.open_verified
    monkeypatch.setattr(scan, "open_verified", lambda p, **kw: opened.append(p) or real(p, **kw))
    with DagsterInstance.ephemeral() as instance:
        requests, cursor = _tick(defs, sensor, instance, None)
        assert len(requests) == 40 and len(opened) == 40
        _requests_over(defs, sensor, instance, cursor, ticks=3)
        assert len(opened) == 40  # later ticks read nothing: hashes cached by (inode, size, mtime)


def test_a_file_stranded_by_a_killed_run_is_requested_and_its_run_ingests_it(settings: Settings) -> None:
    import subprocess
    import sys

    from config.sources import load_sources
    from contracts.loader import load_contracts
    from lake.delta import table_facts
    from pipeline.run import ingest_dataset, lake_for

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    name = "orders_2026-11-01.csv"
    _complete(Path(shutil.copy2(SAMPLES / "orders" / name, folder / name)))
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            "from connectors.file_drop import DropFolder, FileDropConfig\n"
            f"DropFolder(FileDropConfig(name='d', dataset='orders', folder={str(folder)!r}))"
            f".claim({str(folder / name)!r})")
    env = {**os.environ, "MAESTRO_FAULTS": "drop.after_claim=kill"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == -9
    assert not (folder / name).exists()

    with DagsterInstance.ephemeral() as instance:
        [request], _ = _requests_over(defs, sensor, instance, None)
    inputs = request.run_config["ops"]["ingest_orders"]["config"]["inputs"]
    assert inputs == [str(folder / name)]
    spec = [s for s in load_sources(settings) if s.kind == "file_drop"]
    report = ingest_dataset(settings, load_contracts()["orders"], spec, inputs=inputs, publish=False)
    assert [r.status for r in report.results] == ["committed"]
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292


def test_a_name_that_is_not_utf8_is_requested_by_uri_and_shown_readably(settings: Settings) -> None:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    odd = folder / os.fsdecode(b"orders_\xff.csv")
    _complete(Path(shutil.copy2(SAMPLES / "orders" / "orders_2026-11-01.csv", odd)))
    with DagsterInstance.ephemeral() as instance:
        [request], _ = _requests_over(defs, sensor, instance, None)
    assert request.tags["maestro/file"] == "orders_\\xff.csv"
    [ref] = request.run_config["ops"]["ingest_orders"]["config"]["inputs"]
    assert ref == odd.as_uri() and ref.endswith("orders_%FF.csv")


@pytest.mark.slow
def test_runs_requested_for_files_with_odd_names_go_through_the_whole_asset_without_a_crash(
    settings: Settings,
) -> None:
    from dagster import AssetKey

    from lake.delta import table_facts
    from pipeline.run import lake_for

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shop_orders_drop_sensor")
    folder = _drop_folder(settings)
    junk = folder / os.fsdecode(b"export_\xff.csv")  # not UTF-8 in its name, nor in its content
    junk.write_bytes(bytes(range(128, 256)) * 8)
    good = folder / ("o" * 240 + ".CSV")
    shutil.copy2(SAMPLES / "orders" / "orders_2026-11-01.csv", good)
    for f in (junk, good):
        _complete(f)
    with DagsterInstance.ephemeral() as instance:
        requests, cursor = _tick(defs, sensor, instance, None)
        assert len(requests) == 2
        job = defs.resolve_implicit_global_asset_job_def()
        for request in requests:
            run = job.execute_in_process(
                instance=instance, run_config=request.run_config,
                asset_selection=[AssetKey(["bronze", "orders"]), AssetKey(["quarantine", "orders"])],
            )
            assert run.success
        assert _tick(defs, sensor, instance, cursor)[0] == []
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292
    [quarantined] = (folder / "_quarantine").glob("*__export_*.csv")
    assert os.fsencode(quarantined.name).endswith(b"__export_\xff.csv")
    assert len(list((folder / "_archive").rglob("*__ooo*.CSV"))) == 1
    assert [p.name for p in folder.iterdir() if not p.name.startswith("_")] == []
