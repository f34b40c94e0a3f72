"""Reading dropped files: gzip streamed without a temporary copy, zip archives as one input per member."""

from __future__ import annotations

import gzip
import os
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from connectors.exceptions import SourceUnreadableError
from connectors.file_drop import FileDropConfig, FileDropSource


def source(folder: Path) -> FileDropSource:
    return FileDropSource(FileDropConfig(name="drop", dataset="orders", folder=str(folder), settle_seconds=0))


def test_a_dropped_zip_matches_the_default_patterns_and_each_member_is_an_input(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.writestr("a.csv", b"id\n1\n")
        zf.writestr("b.csv", b"id\n2\n")
    old = time.time() - 60
    os.utime(tmp_path / "export.zip", (old, old))
    src = source(tmp_path)

    (listed,) = src.folder.complete_files()
    inputs = src.inputs(listed.path)

    assert [[r for b in src.read(o) for r in b.to_pylist()] for o in inputs] == [[{"id": "1"}], [{"id": "2"}]]


def test_a_dropped_gzip_file_is_read_as_a_stream_without_a_temporary_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"id,name\n" + b"".join(b"%d,n\n" % i for i in range(100_000))))
    src = source(tmp_path)
    (obj,) = src.inputs(path)

    batches = src.read(obj, batch_rows=10_000)
    first = next(batches)
    assert not list(temp.iterdir())  # mid-read: nothing inflated to disk
    assert first.num_rows + sum(b.num_rows for b in batches) == 100_000


def test_errors_name_the_input_by_the_label_the_pipeline_gives(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x00\x01binary\n")
    src = source(tmp_path)
    (obj,) = src.inputs(path)

    expected = "file:///where/it/stays.csv: the header row holds NUL bytes"
    with pytest.raises(SourceUnreadableError, match=expected):
        list(src.read(obj, label="file:///where/it/stays.csv"))
