"""Crash recovery of the local store: torn tails, a lagging index, a deleted index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provenance.exceptions import LedgerCorruptError
from provenance.ledger import RFC6962, Ledger
from provenance.ledger.framing import frame_records

from .conftest import make_entry, record_spans


def _ledger(tmp_path: Path, n: int) -> tuple[Path, list[bytes]]:
    entries = [make_entry(i) for i in range(n)]
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many(entries)
    return tmp_path / "ledger", entries


def _framed(entries: list[bytes]) -> bytes:
    return frame_records(entries, RFC6962.hash_leaves(entries))[0]


@pytest.mark.parametrize("keep", [1, 5, 8, 100])
def test_a_torn_final_record_is_truncated_on_open(tmp_path: Path, keep: int) -> None:
    path, entries = _ledger(tmp_path, 10)
    size_before = (path / "entries.log").stat().st_size
    with open(path / "entries.log", "ab") as log:
        log.write(_framed([make_entry(10)])[:keep])
    with Ledger.open(path) as ledger:
        assert ledger.size == 10
        assert (path / "entries.log").stat().st_size == size_before
        assert ledger.verify().ok
        ledger.append(b"after")
        assert ledger.entry(10) == b"after"


def test_a_final_record_with_a_bad_checksum_is_truncated_on_open(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path, 10)
    torn = bytearray(_framed([b"x" * 50]))
    torn[-1] ^= 0xFF
    with open(path / "entries.log", "ab") as log:
        log.write(bytes(torn))
    with Ledger.open(path) as ledger:
        assert ledger.size == 10


def test_whole_records_written_before_the_index_are_indexed_on_open(tmp_path: Path) -> None:
    path, entries = _ledger(tmp_path, 10)
    extra = [make_entry(i) for i in range(10, 13)]
    with open(path / "entries.log", "ab") as log:
        log.write(_framed(extra) + _framed([b"torn"])[:6])
    with Ledger.open(path, read_only=True) as reader:
        report = reader.verify()
        assert report.ok and "3 whole entries" in " ".join(report.notes)
    with Ledger.open(path) as ledger:
        assert ledger.size == 13
        assert ledger.entry(12) == extra[2]
        assert ledger.verify().ok


def test_an_index_that_ran_ahead_or_fell_behind_is_repaired(tmp_path: Path) -> None:
    path, entries = _ledger(tmp_path, 37)
    with Ledger.open(path) as ledger:
        root = ledger.root()
    level0 = path / "index" / "level-00.bin"
    level2 = path / "index" / "level-02.bin"
    level0.write_bytes(level0.read_bytes()[: 30 * 32 + 7])  # crash mid-write of level 0
    level2.write_bytes(level2.read_bytes()[:32])  # and level 2 fell behind
    with Ledger.open(path) as ledger:
        assert (ledger.size, ledger.root()) == (37, root)
        assert ledger.verify().ok


def test_a_deleted_index_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    path, entries = _ledger(tmp_path, 100)
    with Ledger.open(path) as ledger:
        root = ledger.root()
    shutil.rmtree(path / "index")
    with Ledger.open(path) as ledger:
        assert (ledger.size, ledger.root()) == (100, root)
        assert ledger.inclusion_proof(42).leaf_hash == RFC6962.hash_leaf(entries[42])


def test_damage_inside_the_indexed_entries_is_reported_not_truncated(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path, 10)
    start, end = record_spans(path / "entries.log")[-1]
    data = bytearray((path / "entries.log").read_bytes())
    data[end - 3] ^= 0x01
    (path / "entries.log").write_bytes(bytes(data))
    with pytest.raises(LedgerCorruptError, match="verify") as err:
        Ledger.open(path)
    assert err.value.index == 9
    assert (path / "entries.log").stat().st_size == len(data)
