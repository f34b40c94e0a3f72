"""Dropped files through the pipeline, on real files and Delta tables: good files archived where
their commit says, bad ones quarantined with a report naming where they are, crashed and failed
runs leave nothing stranded or overwritten, files being written are never committed in part, and
nothing outside the folder is ever read or moved."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import pytest
from deltalake import DeltaTable

from config.settings import Settings
from config.sources import SourceSpec
from connectors.file_drop import FileDropSource
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.run import DatasetReport, ingest_dataset, lake_for

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples" / "orders"

CHILD = """
import sys
sys.path.insert(0, {repo!r})
from config.settings import Settings
from config.sources import SourceSpec
from contracts.loader import load_contracts
from pipeline.run import ingest_dataset
spec = SourceSpec("drop", "file_drop", "orders", {{"folder": {folder!r}, "settle_seconds": 0}})
ingest_dataset(Settings.from_env({{"MAESTRO_HOME": {home!r}}}), load_contracts()["orders"], [spec],
               inputs={inputs!r}, publish=False)
"""


def _old(path: Path) -> None:
    t = time.time() - 60
    os.utime(path, (t, t))


def _orders(path: Path, first: int, rows: int) -> Path:
    """An orders export of ``rows`` valid rows with keys from ``first``."""
    lines = ["order_id,customer_id,ordered_at,amount,currency,status,quantity"]
    lines += [f"ORD-{first + i:06d},{1000 + i % 300},2026-11-01T10:{i % 60:02d}:00Z,{i % 997}.25,EUR,paid,1"
              for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _setup(tmp_path: Path) -> tuple[Settings, Path, SourceSpec]:
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    folder = tmp_path / "drop"
    folder.mkdir()
    spec = SourceSpec("drop", "file_drop", "orders", {"folder": str(folder), "settle_seconds": 0})
    return settings, folder, spec


def _ingest(settings: Settings, spec: SourceSpec, inputs: list[str] | None = None) -> DatasetReport:
    return ingest_dataset(settings, load_contracts()["orders"], [spec], inputs=inputs, publish=False)


def _bronze_keys(settings: Settings) -> list[str]:
    uri = lake_for(settings).table_uri("bronze", "orders")
    return sorted(DeltaTable(uri).to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist())


def _local(uri: str) -> Path:
    return Path(os.fsdecode(unquote_to_bytes(urlparse(uri).path)))


def _crash(tmp_path: Path, settings: Settings, folder: Path, point: str, inputs: list[str] | None) -> None:
    """Run the ingest in a child process that is SIGKILLed at fault point ``point``."""
    log = tmp_path / "faults.log"
    env = {**os.environ, "MAESTRO_FAULTS": f"{point}=kill", "MAESTRO_FAULTS_LOG": str(log)}
    code = CHILD.format(repo=str(REPO), folder=str(folder), home=str(settings.home), inputs=inputs)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert json.loads(log.read_text().splitlines()[-1])["point"] == point


def _assert_settled(folder: Path) -> None:
    """Nothing left in the folder or claimed; every archived file matches its manifest."""
    assert not [p for p in folder.iterdir() if not p.name.startswith("_")]
    assert list((folder / "_processing").iterdir()) == []
    for manifest in (folder / "_archive").rglob("*.manifest.json"):
        record = json.loads(manifest.read_text())
        archived = Path(record["path"])
        assert archived.exists() and manifest.name == archived.name + ".manifest.json"
        assert hashlib.sha256(archived.read_bytes()).hexdigest() == record["manifest"]["objects"][0]["sha256"]


def _assert_pointers_resolve(settings: Settings) -> None:
    """Every row's source pointer names an archived file holding the bytes it was read from."""
    for layer in ("bronze", "quarantine"):
        uris = DeltaTable(lake_for(settings).table_uri(layer, "orders")).to_pyarrow_table(
            columns=["_source_uri"]).column("_source_uri").to_pylist()
        for uri in set(uris):
            path = _local(uri)
            record = json.loads(path.with_name(path.name + ".manifest.json").read_text())
            sha = record["manifest"]["objects"][0]["sha256"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, uri


def test_bad_drop_files_are_quarantined_with_a_report_and_good_ones_archived(tmp_path: Path) -> None:
    settings, folder, spec = _setup(tmp_path)
    good = folder / "orders_2026-11-01.csv"
    shutil.copy(SAMPLES / "orders_2026-11-01.csv", good)
    garbage = folder / "export_broken.csv"
    garbage.write_bytes(b"\xff\xfe\x00garbage,order_id\n1,2\n")  # no readable header: unreadable whole
    wrong = folder / "wrong_columns.csv"
    wrong.write_text("id,who\n1,2\n")
    for f in (good, garbage, wrong):
        _old(f)

    report = _ingest(settings, spec)

    assert [r.status for r in report.results if r.status == "committed"] == ["committed"]
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292
    archived = list((folder / "_archive").rglob("*orders_2026-11-01.csv"))
    assert len(archived) == 1 and archived[0].read_bytes() == (SAMPLES / "orders_2026-11-01.csv").read_bytes()
    quarantined = sorted(p.name for p in (folder / "_quarantine").glob("*.csv"))
    assert [q.split("__", 1)[1] for q in quarantined] == ["export_broken.csv", "wrong_columns.csv"]
    for err in report.input_errors:  # every error names the file where it really is
        assert "_quarantine" in err["input"] and Path(err["input"]).exists()
        assert "_archive" not in err["error"] and "_processing" not in err["error"]
    for r in report.results:
        if r.status == "failed":  # the manifest (and so the ledger) names the quarantined file
            assert "_quarantine" in r.manifest.objects[0].uri and _local(r.manifest.objects[0].uri).exists()
    reports = {p.name: json.loads(p.read_text()) for p in (folder / "_quarantine").glob("*.error.json")}
    for r in reports.values():
        assert Path(r["path"]).exists() and r["error"].startswith(r["path"])
    broken = next(r for n, r in reports.items() if "export_broken" in n)
    assert "utf" in broken["error"].lower() and broken["original_name"] == "export_broken.csv"
    columns = next(r for n, r in reports.items() if "wrong_columns" in n)
    assert "required columns missing" in columns["error"] and "who" in columns["error"]
    _assert_settled(folder)


def test_a_stale_claim_and_a_newer_file_of_the_same_name_both_end_up_ingested(tmp_path: Path) -> None:
    settings, folder, spec = _setup(tmp_path)
    name = folder / "orders_export.csv"
    _orders(name, 1, 300)
    _crash(tmp_path, settings, folder, "drop.after_claim", [str(name)])  # its run died holding the claim
    assert not name.exists()
    _orders(name, 1001, 200)  # the shop drops the next export under the same name

    report = _ingest(settings, spec, [str(name)])  # the run requested for the newer file

    assert sorted(r.status for r in report.results) == ["committed", "committed"]
    keys = _bronze_keys(settings)
    assert len(keys) == 500 and keys[0] == "ORD-000001" and keys[-1] == "ORD-001200"
    assert len(list((folder / "_archive").rglob("*.csv"))) == 2
    _assert_settled(folder)


def test_a_run_that_fails_puts_the_file_back_unchanged_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, folder, spec = _setup(tmp_path)
    path = _orders(folder / "orders.csv", 1, 100)
    before = os.stat(path)
    import faults

    faults.reset()  # count this test's hits only
    monkeypatch.setenv("MAESTRO_FAULTS", "drop.after_read=raise")  # the disk or the lake fails mid-ingest

    report = _ingest(settings, spec, [str(path)])

    assert path.exists() and list((folder / "_processing").iterdir()) == []
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # same run key
    [err] = report.input_errors
    assert err["retryable"] and err["input"] == str(path) and "put back" in err["error"]
    assert str(path) in err["error"] and "_processing" not in err["error"]
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 0

    monkeypatch.delenv("MAESTRO_FAULTS")
    assert [r.status for r in _ingest(settings, spec, [str(path)]).results] == ["committed"]
    assert len(_bronze_keys(settings)) == 100
    _assert_settled(folder)


def test_a_file_growing_while_read_is_never_committed_in_part_and_is_ingested_whole_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, folder, spec = _setup(tmp_path)
    path = _orders(folder / "orders.csv", 1, 289)
    real_read = FileDropSource.read

    def read_while_the_writer_appends(self, obj, *, batch_rows=65_536):  # noqa: ANN001, ANN202
        for i, batch in enumerate(real_read(self, obj, batch_rows=batch_rows)):
            if i == 0:  # the writer goes on writing the claimed file (it still has it open)
                with open(self.folder.readable_path(urlparse(obj.uri).path), "a") as f:
                    f.writelines(f"ORD-{n:06d},1001,2026-11-01T10:00:00Z,1.00,EUR,paid,1\n"
                                 for n in range(290, 726))
            yield batch

    monkeypatch.setattr(FileDropSource, "read", read_while_the_writer_appends)
    report = _ingest(settings, spec, [str(path)])

    facts = table_facts(lake_for(settings).table_uri("bronze", "orders"))
    assert facts["rows"] == 0  # not 289 of 725: nothing committed
    assert table_facts(lake_for(settings).table_uri("quarantine", "orders"))["rows"] == 0
    [err] = report.input_errors
    assert err["retryable"] and "changed while being read" in err["error"] and err["input"] == str(path)
    assert path.exists() and len(path.read_text().splitlines()) == 726
    assert not list((folder / "_archive").rglob("*.csv"))

    monkeypatch.setattr(FileDropSource, "read", real_read)  # the writer is done
    assert [r.status for r in _ingest(settings, spec, [str(path)]).results] == ["committed"]
    assert len(_bronze_keys(settings)) == 725
    _assert_settled(folder)
    _assert_pointers_resolve(settings)


@pytest.mark.parametrize("point", ["drop.after_commit", "drop.archive.after_record"])
def test_a_crash_between_commit_and_archive_ends_archived_where_every_row_points(
    tmp_path: Path, point: str
) -> None:
    settings, folder, spec = _setup(tmp_path)
    shutil.copy(SAMPLES / "orders_2026-11-01.csv", folder / "orders_2026-11-01.csv")
    _crash(tmp_path, settings, folder, point, None)
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292

    report = _ingest(settings, spec)  # puts the stranded file back, finds it committed, archives it

    assert [r.status for r in report.results] == ["already_committed"]
    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 292
    _assert_settled(folder)
    _assert_pointers_resolve(settings)
    assert len(list((folder / "_archive").rglob("*.csv"))) == 1


def test_requested_paths_outside_the_drop_folder_are_refused_and_left_where_they_are(tmp_path: Path) -> None:
    settings, folder, spec = _setup(tmp_path)
    keys = tmp_path / "keys"
    keys.mkdir()
    key = _orders(keys / "signing.csv", 1, 3)

    report = _ingest(settings, spec, [str(key), f"{folder}/../keys/signing.csv"])

    assert key.exists() and key.read_text().count("\n") == 4 and list(keys.iterdir()) == [key]
    assert len(report.input_errors) == 2 and all("refused" in e["error"] for e in report.input_errors)
    assert report.results == [] and table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 0


def test_links_hard_links_and_fifos_are_quarantined_unread_with_the_reason(tmp_path: Path) -> None:
    settings, folder, spec = _setup(tmp_path)
    outside = _orders(tmp_path / "outside.csv", 1, 10)  # valid rows: reading it would commit them
    os.symlink(outside, folder / "link.csv")
    os.link(outside, folder / "hard.csv")
    os.mkfifo(folder / "pipe.csv")

    report = _ingest(settings, spec)

    assert table_facts(lake_for(settings).table_uri("bronze", "orders"))["rows"] == 0
    assert outside.read_text().count("\n") == 11 and os.stat(outside).st_nlink == 2
    q = folder / "_quarantine"
    assert os.readlink(q / "symlink__link.csv") == str(outside)  # the link itself, moved unfollowed
    reasons = {p.name: json.loads(p.read_text())["error"] for p in q.glob("*.error.json")}
    assert "symbolic link" in reasons["symlink__link.csv.error.json"]
    assert "hard links" in reasons["hard_link__hard.csv.error.json"]
    assert "FIFO" in reasons["fifo__pipe.csv.error.json"]
    assert sorted(Path(e["input"]).name for e in report.input_errors) == [
        "fifo__pipe.csv", "hard_link__hard.csv", "symlink__link.csv"]
    _assert_settled(folder)


def test_names_of_255_bytes_or_not_utf8_are_ingested_and_archived(tmp_path: Path) -> None:
    settings, folder, spec = _setup(tmp_path)
    long = _orders(folder / ("o" * 251 + ".csv"), 1, 5)
    odd = _orders(folder / os.fsdecode(b"orders_\xff\xfe.CSV"), 101, 5)

    report = _ingest(settings, spec, [str(long), odd.as_uri()])

    assert [r.status for r in report.results] == ["committed", "committed"], report.input_errors
    assert len(_bronze_keys(settings)) == 10
    _assert_settled(folder)
    _assert_pointers_resolve(settings)


def test_a_file_written_to_after_its_commit_keeps_the_committed_bytes_archived_and_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faults
    from pipeline.kinds import drop

    settings, folder, spec = _setup(tmp_path)
    path = _orders(folder / "orders.csv", 1, 289)
    committed = path.read_bytes()

    def point(name: str) -> None:
        if name == "drop.after_commit":  # a writer ignoring the settle time appends just now
            [claimed] = list((folder / "_processing").glob("*/orders.csv"))
            with open(claimed, "a") as f:
                f.write("ORD-000999,1001,2026-11-01T10:00:00Z,1.00,EUR,paid,1\n")
        faults.point(name)

    monkeypatch.setattr(drop, "faults", type("F", (), {"point": staticmethod(point)}))
    report = _ingest(settings, spec, [str(path)])

    assert [r.status for r in report.results] == ["committed"]
    [archived] = list((folder / "_archive").rglob("*__orders.csv"))
    assert archived.read_bytes() == committed  # exactly what the rows were read from
    assert path.read_bytes() == committed + b"ORD-000999,1001,2026-11-01T10:00:00Z,1.00,EUR,paid,1\n"
    [err] = report.input_errors
    assert err["input"] == str(path) and "changed after its commit" in err["error"]
    _assert_pointers_resolve(settings)

    monkeypatch.setattr(drop, "faults", faults)
    assert [r.status for r in _ingest(settings, spec, [str(path)]).results] == ["committed"]
    assert "ORD-000999" in _bronze_keys(settings)
    _assert_settled(folder)
