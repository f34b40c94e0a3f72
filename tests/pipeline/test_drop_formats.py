"""Dropped gzip files and zip archives through the drop pipeline into real Delta tables."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from deltalake import DeltaTable

from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.report import DatasetReport
from pipeline.run import ingest_dataset, lake_for

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "orders"
DAY1, DAY2 = (SAMPLES / f"orders_2026-11-0{d}.csv" for d in (1, 2))


def _drop(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    t = time.time() - 60
    os.utime(path, (t, t))
    return path


def _run(tmp_path: Path, folder: Path, **options: object) -> tuple[Settings, DatasetReport]:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    spec = SourceSpec("drop", "file_drop", "orders", {"folder": str(folder), "settle_seconds": 1, **options})
    return settings, ingest_dataset(settings, load_contracts()["orders"], [spec], publish=False)


def _bronze_rows(settings: Settings) -> int:
    return int(table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] or 0)


def test_each_member_of_a_dropped_zip_is_committed_and_the_zip_archived(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    with zipfile.ZipFile(folder / "export.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(DAY1, "nov/orders_1.csv")
        zf.write(DAY2, "nov/orders_2.csv")
    _drop(folder, "export.zip", (folder / "export.zip").read_bytes())

    settings, report = _run(tmp_path, folder)

    assert [r.status for r in report.results] == ["committed", "committed"]
    assert _bronze_rows(settings) == 292 + 292
    (archived,) = (folder / "_archive").rglob("*export.zip")
    assert [r.manifest.objects[0].uri for r in report.results] == [
        archived.resolve().as_uri() + "#member=nov/orders_1.csv",
        archived.resolve().as_uri() + "#member=nov/orders_2.csv",
    ]
    manifest = json.loads(archived.with_name(archived.name + ".manifest.json").read_text())
    assert [i["status"] for i in manifest["inputs"]] == ["committed", "committed"]
    assert not [p for p in folder.iterdir() if p.is_file()]


def test_a_zip_with_a_refused_member_commits_the_others_and_records_the_refusal(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    with zipfile.ZipFile(folder / "mixed.zip", "w") as zf:
        zf.write(DAY1, "orders.csv")
        zf.writestr("../escape.csv", DAY2.read_bytes())
    _drop(folder, "mixed.zip", (folder / "mixed.zip").read_bytes())

    settings, report = _run(tmp_path, folder)

    assert _bronze_rows(settings) == 292
    (archived,) = (folder / "_archive").rglob("*mixed.zip")
    manifest = json.loads(archived.with_name(archived.name + ".manifest.json").read_text())
    assert [i["status"] for i in manifest["inputs"]] == ["committed", "failed"]
    assert "'..'" in manifest["inputs"][1]["error"]
    refused = archived.resolve().as_uri() + "#member=../escape.csv"
    assert [e["input"] for e in report.input_errors] == [refused]
    assert not (tmp_path / "escape.csv").exists()


def test_an_unreadable_archive_is_quarantined_whole_with_its_reason(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    _drop(folder, "broken.zip", b"PK\x03\x04 this is not a zip archive")

    settings, report = _run(tmp_path, folder)

    (quarantined,) = (folder / "_quarantine").glob("*broken.zip")
    error = json.loads(quarantined.with_name(quarantined.name + ".error.json").read_text())
    assert "not a readable zip archive" in error["error"] and error["original_name"] == "broken.zip"
    assert [e["input"] for e in report.input_errors] == [str(quarantined)]
    assert not _bronze_rows(settings)


def test_a_gzip_bomb_is_quarantined_whole_naming_the_file_and_the_cap(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    member = gzip.compress(b"ORD-100001,1,2026-11-01T00:00:00Z,1.00,EUR,paid,1\n" * 20_000, 9)
    header = gzip.compress(DAY1.read_bytes().split(b"\n", 1)[0] + b"\n")
    _drop(folder, "bomb.csv.gz", header + member * 400)  # ~400 MB of rows from about 1 MB

    settings, report = _run(tmp_path, folder, limits={"ratio_grace_bytes": 8 << 20})

    (quarantined,) = (folder / "_quarantine").glob("*bomb.csv.gz")
    error = json.loads(quarantined.with_name(quarantined.name + ".error.json").read_text())
    assert "limits.max_expansion_ratio" in error["error"] and str(quarantined) in error["error"]
    assert not _bronze_rows(settings)


def test_the_same_data_dropped_plain_then_gzipped_is_one_input(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    _drop(folder, "day1.csv", DAY1.read_bytes())
    settings, first = _run(tmp_path, folder)
    _drop(folder, "day1_again.csv.gz", gzip.compress(DAY1.read_bytes()))

    _, second = _run(tmp_path, folder)

    assert [r.status for r in first.results] == ["committed"]
    assert [r.status for r in second.results] == ["already_committed"]
    assert _bronze_rows(settings) == 292
    assert len(list((folder / "_archive").rglob("*.csv.gz"))) == 1  # archived: it is committed


def test_a_dropped_file_with_unreadable_rows_is_committed_and_those_rows_quarantined_with_reasons(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    lines = DAY1.read_bytes().split(b"\n")
    broken = [*lines[:3], b"ORD-900001,1,2026-11-01T10:00:00Z,1.00", b"\x00" * 20,
              b"ORD-900002,1,2026-11-01T10:00:00Z,1.00,EUR,pa\xffid,1", b"   ", *lines[3:]]
    _drop(folder, "day1_broken.csv", b"\n".join(broken))

    settings, report = _run(tmp_path, folder)

    (result,) = report.results
    assert result.status == "committed" and _bronze_rows(settings) == 292
    table = DeltaTable(lake_for(settings).table_uri("quarantine", "orders")).to_pyarrow_table()
    unreadable = sorted(
        (r["_source_line"], r["_reasons"], r["_raw"]) for r in table.to_pylist()
        if r["_reasons"][0] in ("ragged_row", "nul_bytes", "encoding")
    )
    assert unreadable == [
        (4, ["ragged_row"], b"ORD-900001,1,2026-11-01T10:00:00Z,1.00"),
        (5, ["nul_bytes"], b"\x00" * 20),
        (6, ["encoding"], b"ORD-900002,1,2026-11-01T10:00:00Z,1.00,EUR,pa\xffid,1"),
        (7, ["ragged_row"], b"   "),
    ]
    assert len(list((folder / "_archive").rglob("*day1_broken.csv"))) == 1
    assert not list((folder / "_quarantine").glob("*.csv"))


CHILD = """
import sys
sys.path.insert(0, {repo!r})
from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from pipeline.run import ingest_dataset
settings = Settings.from_env({{"MAESTRO_HOME": {home!r}}})
spec = SourceSpec("drop", "file_drop", "orders", {{"folder": {folder!r}, "settle_seconds": 1}})
ingest_dataset(settings, load_contracts()["orders"], [spec], publish=False)
"""


def test_a_run_killed_between_two_members_of_a_zip_converges_with_every_row_once(tmp_path: Path) -> None:

    folder = tmp_path / "drop"
    folder.mkdir()
    with zipfile.ZipFile(folder / "export.zip", "w") as zf:
        zf.write(DAY1, "a.csv")
        zf.write(DAY2, "b.csv")
    _drop(folder, "export.zip", (folder / "export.zip").read_bytes())
    code = CHILD.format(repo=str(Path(__file__).resolve().parents[2]), home=str(tmp_path / "home"),
                        folder=str(folder))
    log = tmp_path / "faults.jsonl"
    env = {**os.environ, "MAESTRO_FAULTS": "pipeline.drop.after_input@1=kill", "MAESTRO_FAULTS_LOG": str(log)}

    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9 and json.loads(log.read_text())["point"] == "pipeline.drop.after_input"
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    assert _bronze_rows(settings) == 292  # the first member committed before the kill
    # The killed run's claim is put back by the next run (its owner is gone), which ingests it.
    _, report = _run(tmp_path, folder)

    assert sorted(r.status for r in report.results) == ["already_committed", "committed"]
    assert _bronze_rows(settings) == 292 + 292
    assert len(list((folder / "_archive").rglob("*export.zip"))) == 1
