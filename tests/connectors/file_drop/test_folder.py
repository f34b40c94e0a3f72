"""The drop folder life cycle on real files: completion rule, atomic claim, archive, quarantine."""

from __future__ import annotations

import os
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
    os.utime(path, (t, t))


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


def test_a_file_is_claimed_by_exactly_one_caller(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    f = folder.root / "a.csv"
    f.write_text("x\n1\n")
    first = folder.claim(f)
    second = folder.claim(f)
    assert first is not None and first.exists() and not f.exists()
    assert second is None


def test_archive_and_quarantine_keep_the_file_and_a_record_beside_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for name in ("good.csv", "bad.csv"):
        (folder.root / name).write_text("x\n1\n")
    good = folder.archive_file(folder.claim(folder.root / "good.csv"), sha256="ab" * 32, record={"rows": 1})
    bad = folder.quarantine_file(
        folder.claim(folder.root / "bad.csv"),
        sha256="cd" * 32,
        error="bad.csv: not valid utf-8",
        detail={"dataset": "orders"},
    )
    assert good.read_text() == "x\n1\n" and Path(str(good) + ".manifest.json").exists()
    assert bad.read_text() == "x\n1\n"
    report = Path(str(bad) + ".error.json").read_text()
    assert "not valid utf-8" in report and "orders" in report
    assert not any(folder.processing.iterdir())


def test_a_second_drop_of_the_same_file_is_archived_beside_the_first(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    paths = []
    for _ in range(2):
        (folder.root / "a.csv").write_text("x\n1\n")
        paths.append(folder.archive_file(folder.claim(folder.root / "a.csv"), sha256="ef" * 32, record={}))
    assert paths[0] != paths[1] and all(p.exists() for p in paths)


def test_files_left_claimed_by_a_crashed_run_return_to_the_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "a.csv").write_text("x\n1\n")
    claimed = folder.claim(folder.root / "a.csv")
    assert claimed is not None
    _old(claimed, 3600)
    _old(claimed.parent, 3600)
    back = folder.recover_stale(older_than_s=900)
    assert [p.name for p in back] == ["a.csv"] and (folder.root / "a.csv").exists()
