"""Paths in a hostile drop folder: requests confined to the folder, links and special files never
followed or opened, the opened file checked, names of any length and bytes handled."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from connectors.file_drop import DropFolder, DropPathError, FileChangedError, FileDropConfig, UnsafeEntryError
from connectors.file_drop.fsops import NAME_MAX, fit_name, name_variant, open_verified


def _folder(tmp_path: Path) -> DropFolder:
    folder = DropFolder(FileDropConfig(name="drop", dataset="orders", folder=str(tmp_path / "drop")))
    folder.ensure()
    return folder


def test_requested_paths_outside_the_folder_are_refused_and_never_moved(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    secret = tmp_path / "keys" / "ledger.csv"
    secret.parent.mkdir()
    secret.write_text("private\n")
    (folder.root / "sub").mkdir()
    os.symlink(secret.parent, folder.root / "linked")
    refused = [
        str(secret),
        f"{folder.root}/../keys/ledger.csv",
        str(folder.root / "linked" / "ledger.csv"),  # through a link to a folder outside
        str(folder.root / "sub" / "x.csv"),
        str(folder.root / "_archive"),
        str(folder.root / "notes.txt"),  # in the folder, but not one of its patterns
    ]
    for ref in refused:
        with pytest.raises(DropPathError, match="refused"):
            folder.confine(ref)
    assert secret.read_text() == "private\n"
    assert folder.confine(str(folder.root / "a.csv")) == folder.root / "a.csv"
    assert folder.confine("a.csv") == folder.root / "a.csv"  # a bare name is a name in the folder
    assert folder.confine((folder.root / "b.CSV").as_uri()) == folder.root / "b.CSV"


def test_links_hard_links_and_fifos_are_listed_with_the_reason_they_will_not_be_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n1\n")
    os.symlink(outside, folder.root / "link.csv")
    os.link(outside, folder.root / "hard.csv")
    os.mkfifo(folder.root / "pipe.csv")
    (folder.root / "plain.csv").write_text("x\n1\n")

    ready = {f.path.name: f for f in folder.scan(now=time.time() + 60).ready}

    assert ready["plain.csv"].problem is None and ready["plain.csv"].sha256 is not None
    assert "symbolic link" in ready["link.csv"].problem
    assert "2 hard links" in ready["hard.csv"].problem
    assert "FIFO" in ready["pipe.csv"].problem
    assert all(ready[n].sha256 is None for n in ("link.csv", "hard.csv", "pipe.csv"))  # never read


def test_opening_never_follows_a_link_nor_reads_a_hard_link_or_fifo(tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n")
    os.symlink(outside, tmp_path / "link.csv")
    os.link(outside, tmp_path / "hard.csv")
    os.mkfifo(tmp_path / "pipe.csv")  # opening it for reading would block for ever
    for name, code in (("link.csv", "symlink"), ("hard.csv", "hard_link"), ("pipe.csv", "fifo")):
        with pytest.raises(UnsafeEntryError) as err:
            open_verified(tmp_path / name)
        assert err.value.code == code and name in str(err.value)


def test_a_file_swapped_after_listing_is_not_read(tmp_path: Path) -> None:
    listed = tmp_path / "a.csv"
    listed.write_text("x\n1\n")
    st = os.stat(listed)
    os.rename(listed, tmp_path / "elsewhere.csv")
    listed.write_text("x\n2\n")  # another inode under the listed name
    with pytest.raises(FileChangedError, match="replaced"):
        open_verified(listed, expect=(st.st_dev, st.st_ino))


def test_a_file_changed_while_open_is_detected_by_size_and_by_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    with open_verified(path) as opened:
        opened.verify_unchanged("a.csv")
        with open(path, "a") as f:
            f.write("2\n")
        with pytest.raises(FileChangedError, match="size"):
            opened.verify_unchanged("a.csv")
    with open_verified(path) as opened:
        st = os.stat(path)
        with open(path, "r+") as f:
            f.write("y")  # same size; the mtime put back as it was
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        with pytest.raises(FileChangedError, match="ctime"):
            opened.verify_unchanged("a.csv")
    with open_verified(path) as opened, open(opened.read_path, "rb") as again:
        assert again.read() == b"y\n1\n2\n"  # the reader's path opens this very file


def test_names_up_to_name_max_and_with_any_bytes_fit_with_room_for_records(tmp_path: Path) -> None:
    long = "é" * 100 + "x" * 40 + ".csv.gz"  # 247 bytes
    fitted = fit_name(f"{'ab' * 8}__{long}", reserve=22)
    assert len(os.fsencode(fitted)) <= NAME_MAX - 22 and fitted.endswith(".csv.gz")
    fitted.encode("utf-8")  # never cut inside a character
    variant = name_variant(long, 12)
    assert len(os.fsencode(variant)) <= NAME_MAX and variant.endswith("~12.csv.gz")
    odd = os.fsdecode(b"orders_\xff\xfe.csv")
    (tmp_path / odd).write_text("x\n")
    (tmp_path / fitted).write_text("x\n")
    assert name_variant(odd, 2) == os.fsdecode(b"orders_\xff\xfe~2.csv")
