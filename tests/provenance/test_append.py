"""Appending: indexes, durability across reopen, input checks and the single-writer lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.exceptions import LedgerBusyError, LedgerConfigError
from provenance.ledger import Ledger, LedgerStore, open_store

from .conftest import make_entry


def test_append_and_append_many_return_the_first_new_index(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        assert ledger.append(b"first") == 0
        assert ledger.append_many([b"second", bytearray(b"third"), memoryview(b"4")]) == 1
        assert ledger.append_many([]) == 4
        assert ledger.size == 4
        assert [ledger.entry(i) for i in range(4)] == [b"first", b"second", b"third", b"4"]


def test_entries_and_root_survive_closing_and_reopening(tmp_path: Path) -> None:
    entries = [make_entry(i) for i in range(300)]
    with Ledger.open(tmp_path / "ledger") as ledger:
        for i in range(0, 300, 64):
            ledger.append_many(entries[i : i + 64])
        root = ledger.root()
    with Ledger.open(tmp_path / "ledger") as ledger:
        assert (ledger.size, ledger.root()) == (300, root)
        assert ledger.entry(299) == entries[299]
        ledger.append(b"more")
        assert ledger.size == 301


def test_empty_entries_are_valid_leaves(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many([b"", b"", b"x"])
    with Ledger.open(tmp_path / "ledger") as ledger:
        assert [ledger.entry(i) for i in range(3)] == [b"", b"", b"x"]
        assert ledger.verify().ok


def test_non_bytes_entries_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        with pytest.raises(LedgerConfigError, match="entry 1 is str"):
            ledger.append_many([b"ok", "row value"])  # type: ignore[list-item]
        assert ledger.size == 0


def test_a_second_writer_is_told_to_retry(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger"):
        with pytest.raises(LedgerBusyError, match="retry"):
            Ledger.open(tmp_path / "ledger")
        with Ledger.open(tmp_path / "ledger", read_only=True) as reader:
            assert reader.size == 0
    Ledger.open(tmp_path / "ledger").close()


def test_a_read_only_ledger_refuses_appends_and_a_missing_one_is_not_created(
    tmp_path: Path,
) -> None:
    with pytest.raises(LedgerConfigError, match="not a ledger"):
        Ledger.open(tmp_path / "nothing", read_only=True)
    assert not (tmp_path / "nothing").exists()
    Ledger.open(tmp_path / "ledger").close()
    with (
        Ledger.open(tmp_path / "ledger", read_only=True) as ledger,
        pytest.raises(LedgerConfigError, match="read-only"),
    ):
        ledger.append(b"x")


def test_origin_is_fixed_at_creation(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "ledger", origin="example.com/a").close()
    with pytest.raises(LedgerConfigError, match="example.com/a"):
        Ledger.open(tmp_path / "ledger", origin="example.com/b")
    with pytest.raises(LedgerConfigError, match="origin"):
        Ledger.open(tmp_path / "other", origin="has space")


def test_a_non_empty_folder_that_is_not_a_ledger_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(LedgerConfigError, match="not a ledger"):
        Ledger.open(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


def test_the_local_store_implements_the_store_protocol(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger")
    try:
        assert isinstance(store, LedgerStore) and store.kind == "local"
    finally:
        store.close()


def test_locations_of_unknown_backends_are_refused() -> None:
    with pytest.raises(LedgerConfigError, match="'gs' backend"):
        open_store("gs://bucket/ledger")
