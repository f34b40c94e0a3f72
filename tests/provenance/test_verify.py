"""Full verification on a real 1,100-entry ledger: clean when untouched, and every kind of
tampering with the stored files is reported at the first bad entry or checkpoint."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from provenance.exceptions import LedgerConfigError, LedgerCorruptError
from provenance.ledger import RFC6962, Checkpoint, Ledger, Signer, VerifyReport, verify_ledger
from provenance.ledger.framing import frame_records
from provenance.ledger.keys import load_verifier

from .conftest import BuiltLedger, record_spans

SIZE = 1100
CHECKPOINTS = (1, 333, 700, 1024, 1100)
ORIGIN = "example.com/ledger/test"  # what the build_ledger fixture uses


@pytest.fixture
def built(build_ledger: Callable[..., BuiltLedger]) -> BuiltLedger:
    return build_ledger(SIZE, checkpoint_at=CHECKPOINTS)


def _verify(built: BuiltLedger) -> VerifyReport:
    return verify_ledger(built.path, verifier=load_verifier(built.key_dir, ORIGIN))


def _rewrite_log(built: BuiltLedger, records: list[bytes]) -> None:
    built.log.write_bytes(b"".join(records))


def _records(built: BuiltLedger) -> list[bytes]:
    data = built.log.read_bytes()
    return [data[start:end] for start, end in record_spans(built.log)]


def _forged(entry: bytes) -> bytes:
    return frame_records([entry], [RFC6962.hash_leaf(entry)])[0]


def test_an_untouched_ledger_verifies_clean(built: BuiltLedger) -> None:
    report = _verify(built)
    assert report.ok, report.summary()
    assert (report.size, report.checkpoints) == (SIZE, len(CHECKPOINTS))
    assert report.summary().startswith("OK:")
    with built.open() as ledger:
        assert report.root == ledger.root()
        assert ledger.verify().ok


def test_flipping_any_sampled_byte_of_the_entry_log_names_its_entry(built: BuiltLedger) -> None:
    original = built.log.read_bytes()
    spans = record_spans(built.log)
    sampled = sorted({0, 1, 2, 510, 511, 512, 1023, 1024, 1098, 1099, *range(0, SIZE, 53)})
    missed = []
    for index in sampled:
        start, end = spans[index]
        positions = [*range(start, start + 8), start + 8, (start + end) // 2, end - 1]
        for n, pos in enumerate(positions):
            data = bytearray(original)
            data[pos] ^= 0xFF if n % 2 else 0x01
            built.log.write_bytes(bytes(data))
            report = _verify(built)
            if report.first_bad_entry != index:
                missed.append((index, pos - start, report.first_bad_entry))
    built.log.write_bytes(original)
    assert missed == []
    assert _verify(built).ok


@pytest.mark.parametrize("number", [0, 2, 4])
def test_flipping_any_byte_of_a_checkpoint_names_that_checkpoint(
    built: BuiltLedger, number: int
) -> None:
    path = built.checkpoint_file(number)
    original = path.read_bytes()
    missed = []
    for pos in range(len(original)):
        for mask in (0x01, 0xFF) if number == 2 else (0x01,):
            data = bytearray(original)
            data[pos] ^= mask
            path.write_bytes(bytes(data))
            report = _verify(built)
            if report.first_bad_checkpoint != number or report.first_bad_entry is not None:
                missed.append((pos, mask))
    path.write_bytes(original)
    assert missed == []


@pytest.mark.parametrize("index", [0, 1, 600, 1024, SIZE - 1])
def test_deleting_an_entry_is_reported_at_its_index(built: BuiltLedger, index: int) -> None:
    records = _records(built)
    del records[index]
    _rewrite_log(built, records)
    assert _verify(built).first_bad_entry == index


@pytest.mark.parametrize("index", [0, 333, 1099])
def test_inserting_an_entry_is_reported_at_its_index(built: BuiltLedger, index: int) -> None:
    records = _records(built)
    records.insert(index, _forged(b'{"forged": true}'))
    _rewrite_log(built, records)
    assert _verify(built).first_bad_entry == index


@pytest.mark.parametrize(("a", "b"), [(0, 1), (10, 900), (1098, 1099)])
def test_reordering_entries_is_reported_at_the_first_moved_index(
    built: BuiltLedger, a: int, b: int
) -> None:
    records = _records(built)
    records[a], records[b] = records[b], records[a]
    _rewrite_log(built, records)
    assert _verify(built).first_bad_entry == a


@pytest.mark.parametrize("index", [0, 700, 1098])
def test_duplicating_an_entry_is_reported_where_the_copy_sits(
    built: BuiltLedger, index: int
) -> None:
    records = _records(built)
    records.insert(index + 1, records[index])
    _rewrite_log(built, records)
    assert _verify(built).first_bad_entry == index + 1


@pytest.mark.parametrize("index", [5, 1000, SIZE - 1])
def test_truncating_the_log_mid_entry_is_reported_at_that_entry(
    built: BuiltLedger, index: int
) -> None:
    start, end = record_spans(built.log)[index]
    with open(built.log, "r+b") as log:
        log.truncate((start + end) // 2)
    assert _verify(built).first_bad_entry == index


def test_dropping_whole_entries_from_the_end_is_reported(built: BuiltLedger) -> None:
    _rewrite_log(built, _records(built)[:1050])
    report = _verify(built)
    assert report.first_bad_entry == 1050
    assert "1050" in report.summary()


def test_truncating_log_and_index_together_is_caught_by_the_latest_checkpoint(
    built: BuiltLedger,
) -> None:
    keep = 1030
    _rewrite_log(built, _records(built)[:keep])
    (built.path / "index" / "offsets.bin").write_bytes(
        (built.path / "index" / "offsets.bin").read_bytes()[: keep * 8]
    )
    for level_file in (built.path / "index").glob("level-*.bin"):
        level = int(level_file.stem.split("-")[1])
        level_file.write_bytes(level_file.read_bytes()[: (keep >> level) * 32])
    report = _verify(built)
    assert report.first_bad_entry == keep
    assert "checkpoint 4 covers 1100 entries" in report.summary()


def test_truncating_and_reindexing_is_still_caught_by_the_latest_checkpoint(
    built: BuiltLedger,
) -> None:
    _rewrite_log(built, _records(built)[:900])
    shutil.rmtree(built.path / "index")
    Ledger.open(built.path).close()  # rebuilds the index from the shortened log
    assert _verify(built).first_bad_entry == 900


def test_an_entry_rewritten_together_with_its_index_fails_the_next_checkpoint(
    built: BuiltLedger,
) -> None:
    records = _records(built)
    records[500] = _forged(b'{"rewritten": true}')
    _rewrite_log(built, records)
    shutil.rmtree(built.path / "index")
    Ledger.open(built.path).close()
    report = _verify(built)
    assert report.first_bad_checkpoint == 2  # the first checkpoint covering entry 500
    assert "[333, 700)" in report.summary()


def test_a_deleted_checkpoint_is_reported(built: BuiltLedger) -> None:
    built.checkpoint_file(1).unlink()
    assert _verify(built).first_bad_checkpoint == 1


def test_checkpoints_swapped_in_order_are_reported(built: BuiltLedger) -> None:
    first, second = built.checkpoint_file(1), built.checkpoint_file(2)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    assert _verify(built).first_bad_checkpoint == 2


def test_a_checkpoint_signed_by_another_key_is_reported(built: BuiltLedger) -> None:
    forger = Signer.generate(ORIGIN)
    with built.open() as ledger:
        statement = Checkpoint(ledger.origin, 700, ledger.root(700))
    built.checkpoint_file(2).write_bytes(statement.sign(forger))
    report = _verify(built)
    assert report.first_bad_checkpoint == 2 and report.first_bad_entry is None


def test_a_damaged_index_is_reported_as_cache_damage_not_as_bad_entries(
    built: BuiltLedger,
) -> None:
    level3 = built.path / "index" / "level-03.bin"
    data = bytearray(level3.read_bytes())
    data[40 * 32 + 5] ^= 0x01
    level3.write_bytes(bytes(data))
    report = _verify(built)
    assert (report.first_bad_entry, report.first_bad_checkpoint) == (None, None)
    cache = report.first("cache")
    assert cache is not None and cache.index == 40


def test_a_damaged_leaf_hash_in_the_index_is_cache_damage_when_a_checkpoint_vouches(
    built: BuiltLedger,
) -> None:
    level0 = built.path / "index" / "level-00.bin"
    data = bytearray(level0.read_bytes())
    data[800 * 32] ^= 0x01
    level0.write_bytes(bytes(data))
    report = _verify(built)
    cache = report.first("cache")
    assert report.first_bad_entry is None and cache is not None and cache.index == 800


def test_raise_for_problems_raises_with_the_first_bad_index(built: BuiltLedger) -> None:
    records = _records(built)
    del records[321]
    _rewrite_log(built, records)
    with pytest.raises(LedgerCorruptError) as err:
        _verify(built).raise_for_problems()
    assert (err.value.kind, err.value.index) == ("entry", 321)


def test_verifying_checkpoints_needs_a_key(built: BuiltLedger) -> None:
    with pytest.raises(LedgerConfigError, match="verifier key"):
        verify_ledger(built.path, verifier=None)
