"""The drop folder life cycle on real files: completion rule, atomic claim, archive, quarantine."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from connectors.file_drop import DropFolder, FileDropConfig


def _folder(tmp_path: Path, settle: float = 2.0) -> DropFolder:
    f = DropFolder(
        FileDropConfig(name="drop", dataset="orders", folder=str(tmp_path / "drop"), settle_seconds=settle)
    )
    f.ensure()
    return f


def _old(path: Path, age_s: float = 60) -> None:
    t = time.time() - age_s
    os.utime(path, (t, t), follow_symlinks=False)


def test_only_complete_files_are_picked_up(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    done = folder.root / "a.csv"
    done.write_text("x\n1\n")
    _old(done)
    part = folder.root / "b.csv.part"  # still being uploaded: temporary suffix
    part.write_text("x\n1\n")
    _old(part)
    fresh = folder.root / "c.csv"  # modified just now: may still be growing
    fresh.write_text("x\n1\n")
    hidden = folder.root / ".d.csv"
    hidden.write_text("x\n")
    _old(hidden)

    assert [f.path.name for f in folder.complete_files()] == ["a.csv"]
    os.rename(part, folder.root / "b.csv")  # the writer renames when done
    assert sorted(f.path.name for f in folder.complete_files()) == ["a.csv", "b.csv"]


def test_pattern_matching_ignores_case(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for name in ("UPPER.CSV", "Mixed.Csv.Gz", "lower.csv"):
        (folder.root / name).write_text("x\n1\n")
        _old(folder.root / name)
    assert sorted(f.path.name for f in folder.complete_files()) == ["Mixed.Csv.Gz", "UPPER.CSV", "lower.csv"]


def test_every_entry_that_is_not_ingested_is_listed_with_the_reason(tmp_path: Path) -> None:
    # A folder configured without *.zip (the default reads zip archives, one input per member).
    folder = DropFolder(FileDropConfig(name="drop", dataset="orders", folder=str(tmp_path / "drop"),
                                       patterns=["*.csv", "*.csv.gz"]))
    folder.ensure()
    for name in ("notes.txt", "orders.zip", ".hidden.csv", "late.csv.part"):
        (folder.root / name).write_text("x\n")
        _old(folder.root / name)
    (folder.root / "sub").mkdir()

    ignored = {e.path.name: e.reason for e in folder.scan().ignored}

    assert set(ignored) == {"notes.txt", "orders.zip", ".hidden.csv", "late.csv.part", "sub"}
    assert "matches none of the patterns *.csv, *.csv.gz" in ignored["notes.txt"]
    assert "zip archive" in ignored["orders.zip"]
    assert "temporary name" in ignored["late.csv.part"] and "folder" in ignored["sub"]
    assert folder.scan().ready == []


def test_a_file_is_claimed_by_exactly_one_caller(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    f = folder.root / "a.csv"
    f.write_text("x\n1\n")
    first = folder.claim(f)
    second = folder.claim(f)
    assert first is not None and first.path.read_text() == "x\n1\n" and not f.exists()
    assert second is None
    first.close()


def test_archive_and_quarantine_keep_the_file_and_a_record_naming_where_it_is(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for name in ("good.csv", "bad.csv"):
        (folder.root / name).write_text("x\n1\n")
    good_claim = folder.claim(folder.root / "good.csv")
    dest = folder.archive_destination("good.csv", sha256="ab" * 32)
    good = folder.archive_file(good_claim, dest=dest, record={"rows": 1})
    bad_claim = folder.claim(folder.root / "bad.csv")
    bad = folder.quarantine_file(
        bad_claim, prefix="cd" * 8,
        report=lambda d: {"error": f"{d}: not valid utf-8", "dataset": "orders"},
    )
    good_claim.close()
    bad_claim.close()

    assert good == dest and good.read_text() == "x\n1\n"
    manifest = json.loads(Path(str(good) + ".manifest.json").read_text())
    assert manifest["path"] == str(good) and manifest["rows"] == 1
    assert bad.read_text() == "x\n1\n"
    report = json.loads(Path(str(bad) + ".error.json").read_text())
    assert report["path"] == str(bad) and Path(report["path"]).exists()
    assert report["error"].startswith(str(bad)) and report["dataset"] == "orders"
    assert report["file"] == "bad.csv"
    assert not any(folder.processing.iterdir())  # claims removed, no temp file left


def test_a_second_drop_of_the_same_file_is_archived_beside_the_first(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    paths = []
    for _ in range(2):
        (folder.root / "a.csv.gz").write_text("x\n1\n")
        claim = folder.claim(folder.root / "a.csv.gz")
        dest = folder.archive_destination("a.csv.gz", sha256="ef" * 32)
        paths.append(folder.archive_file(claim, dest=dest, record={}))
        claim.close()
    assert paths[0] != paths[1] and all(p.exists() for p in paths)
    assert paths[1].name.endswith(".csv.gz")  # the variant keeps the extensions: x~2.csv.gz


def test_an_archive_destination_taken_meanwhile_is_never_overwritten(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("mine\n")
    claim = folder.claim(folder.root / "a.csv")
    dest = folder.archive_destination("a.csv", sha256="01" * 32)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("someone else's\n")  # appears between choosing the name and the move

    landed = folder.archive_file(claim, dest=dest, record={"rows": 1})
    claim.close()

    assert dest.read_text() == "someone else's\n" and landed != dest and landed.read_text() == "mine\n"
    assert json.loads(Path(str(landed) + ".manifest.json").read_text())["path"] == str(landed)
    assert not Path(str(dest) + ".manifest.json").exists()


def test_folders_the_drop_folder_creates_are_private(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n")
    claim = folder.claim(folder.root / "a.csv")
    claim_mode = stat.S_IMODE(os.stat(claim.dir).st_mode)
    folder.archive_file(claim, dest=folder.archive_destination("a.csv", sha256="aa" * 32), record={})
    claim.close()
    for d in (folder.root, folder.processing, folder.archive, folder.quarantine):
        assert stat.S_IMODE(os.stat(d).st_mode) & 0o027 == 0, d  # at most 0750
    assert claim_mode == 0o700
    manifest = next(folder.archive.rglob("*.manifest.json"))
    assert stat.S_IMODE(os.stat(manifest).st_mode) & 0o137 == 0  # at most 0640
