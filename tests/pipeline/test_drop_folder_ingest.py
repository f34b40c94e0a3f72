"""Dropped files through the pipeline: good files archived, bad files quarantined with a report."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.run import ingest_dataset, lake_for

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "orders"


def _old(path: Path) -> None:
    t = time.time() - 60
    os.utime(path, (t, t))


def test_bad_drop_files_are_quarantined_with_a_report_and_good_ones_archived(tmp_path: Path) -> None:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    folder = tmp_path / "drop"
    folder.mkdir()
    spec = SourceSpec("drop", "file_drop", "orders", {"folder": str(folder), "settle_seconds": 1})
    good = folder / "orders_2026-11-01.csv"
    shutil.copy(SAMPLES / "orders_2026-11-01.csv", good)
    garbage = folder / "export_broken.csv"
    garbage.write_bytes(b"order_id,customer_id\n\xff\xfe\x00garbage\n")
    wrong = folder / "wrong_columns.csv"
    wrong.write_text("id,who\n1,2\n")
    for f in (good, garbage, wrong):
        _old(f)

    report = ingest_dataset(settings, load_contracts()["orders"], [spec], publish=False)

    assert [r.status for r in report.results if r.status == "committed"] == ["committed"]
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292
    archived = list((folder / "_archive").rglob("*orders_2026-11-01.csv"))
    assert len(archived) == 1 and archived[0].read_bytes() == (SAMPLES / "orders_2026-11-01.csv").read_bytes()
    quarantined = sorted(p.name for p in (folder / "_quarantine").glob("*.csv"))
    assert [q.split("__", 1)[1] for q in quarantined] == ["export_broken.csv", "wrong_columns.csv"]
    for err in report.input_errors:
        assert "_quarantine" in err["input"] and "_archive" not in err["error"]
    reports = {p.name: json.loads(p.read_text()) for p in (folder / "_quarantine").glob("*.error.json")}
    broken = next(r for n, r in reports.items() if "export_broken" in n)
    assert "utf" in broken["error"].lower() and broken["original_name"] == "export_broken.csv"
    columns = next(r for n, r in reports.items() if "wrong_columns" in n)
    assert "required columns missing" in columns["error"] and "who" in columns["error"]
    assert not [p for p in folder.iterdir() if p.is_file()]  # nothing left behind, nothing lost
