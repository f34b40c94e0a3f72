"""Checkpoints: stored as an append-only list beside the log, signed, never contradictory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provenance.exceptions import LedgerConfigError, LedgerCorruptError
from provenance.ledger import Checkpoint, Ledger, Signer

from .conftest import BuiltLedger


def test_checkpoints_are_numbered_files_beside_the_log(
    build_ledger: Callable[..., BuiltLedger],
) -> None:
    built = build_ledger(50, checkpoint_at=(10, 20, 50))
    files = sorted(p.name for p in (built.path / "checkpoints").iterdir())
    assert files == ["0000000000.note", "0000000001.note", "0000000002.note"]
    with built.open() as ledger:
        verifier = ledger.verifier
        for signed, size in zip(built.checkpoints, (10, 20, 50), strict=True):
            cp = Checkpoint.open(built.checkpoint_file(signed.number).read_bytes(), verifier)
            assert (cp.origin, cp.size, cp.root) == (ledger.origin, size, ledger.root(size))


def test_signing_again_without_appends_returns_the_latest_checkpoint(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger", key_dir=tmp_path / "keys") as ledger:
        ledger.append(b"a")
        first = ledger.checkpoint()
        assert ledger.checkpoint() == first
        ledger.append(b"b")
        second = ledger.checkpoint()
        assert (second.number, second.checkpoint.size) == (1, 2)
        assert ledger.latest_checkpoint() == second


def test_an_empty_ledger_can_be_checkpointed(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger", key_dir=tmp_path / "keys") as ledger:
        signed = ledger.checkpoint()
        assert signed.checkpoint.size == 0
        assert ledger.verify().ok


def test_checkpoint_needs_the_key_directory(tmp_path: Path) -> None:
    with (
        Ledger.open(tmp_path / "ledger") as ledger,
        pytest.raises(LedgerConfigError, match="key_dir"),
    ):
        ledger.checkpoint()


def test_no_checkpoint_is_signed_over_a_foreign_latest_checkpoint(
    build_ledger: Callable[..., BuiltLedger],
) -> None:
    built = build_ledger(20, checkpoint_at=(20,))
    forger = Signer.generate("example.com/ledger/test")
    forged = Checkpoint("example.com/ledger/test", 20, bytes(32)).sign(forger)
    built.checkpoint_file(0).write_bytes(forged)
    with built.open() as ledger:
        ledger.append(b"more")
        with pytest.raises(LedgerCorruptError, match="does not verify") as err:
            ledger.checkpoint()
    assert (err.value.kind, err.value.index) == ("checkpoint", 0)
    assert not built.checkpoint_file(1).exists()
