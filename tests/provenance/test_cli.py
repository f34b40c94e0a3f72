"""The ledger command line, end to end on real files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.cli import main
from provenance.ledger import ConsistencyProof, Ledger, Verifier

from .conftest import record_spans

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_with_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    entries = tmp_path / "entries.txt"
    entries.write_text("".join(f'{{"run": "r{i}", "sha256": "{i:064x}"}}\n' for i in range(20)))
    ledger, keys = tmp_path / "ledger", tmp_path / "keys"
    assert main(["append", str(ledger), str(entries), "--lines"]) == 0
    assert main(["checkpoint", str(ledger), "--key-dir", str(keys)]) == 0
    return ledger, keys


def test_help_works_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "provenance.cli", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("append", "checkpoint", "prove", "consistency", "verify", "pubkey"):
        assert command in result.stdout


def test_append_reads_one_entry_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"line one\nline two\n")))
    assert main(["append", str(tmp_path / "ledger")]) == 0
    with Ledger.open(tmp_path / "ledger", read_only=True) as ledger:
        assert (ledger.size, ledger.entry(0)) == (1, b"line one\nline two\n")


def test_checkpoint_prints_a_signed_note_and_pubkey_its_key(
    ledger_with_checkpoint: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, keys = ledger_with_checkpoint
    capsys.readouterr()
    assert main(["checkpoint", str(ledger), "--key-dir", str(keys)]) == 0  # reprints the latest
    note = capsys.readouterr().out
    assert note.split("\n")[1] == "20" and "\n\n— " in note
    assert main(["pubkey", str(ledger), "--key-dir", str(keys)]) == 0
    vkey = capsys.readouterr().out.strip()
    assert Verifier.from_vkey(vkey).name == note.split("\n")[0]


def test_prove_then_verify_inclusion_offline(
    ledger_with_checkpoint: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, keys = ledger_with_checkpoint
    proof, cp, entry = tmp_path / "proof.json", tmp_path / "cp.note", tmp_path / "entry.bin"
    args = ["prove", str(ledger), "7", "--out", str(proof)]
    assert main([*args, "--checkpoint-out", str(cp), "--entry-out", str(entry)]) == 0
    assert json.loads(proof.read_text())["treeSize"] == 20
    main(["pubkey", str(ledger), "--key-dir", str(keys)])
    vkey = capsys.readouterr().out.strip().splitlines()[-1]
    check = [
        "verify-inclusion",
        "--entry",
        str(entry),
        "--proof",
        str(proof),
        "--checkpoint",
        str(cp),
        "--vkey",
        vkey,
    ]
    assert main(check) == 0
    assert "entry 7 is included" in capsys.readouterr().out
    entry.write_bytes(entry.read_bytes() + b" ")
    assert main(check) == 1
    assert "FAILED" in capsys.readouterr().err


def test_consistency_emits_a_proof_that_verifies(
    ledger_with_checkpoint: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, _ = ledger_with_checkpoint
    capsys.readouterr()
    assert main(["consistency", str(ledger), "7", "20"]) == 0
    ConsistencyProof.from_json(capsys.readouterr().out).verify()


def test_verify_passes_clean_and_names_the_first_bad_entry(
    ledger_with_checkpoint: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, keys = ledger_with_checkpoint
    assert main(["verify", str(ledger), "--key-dir", str(keys), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    log = ledger / "entries.log"
    start, end = record_spans(log)[13]
    data = bytearray(log.read_bytes())
    data[end - 2] ^= 0x20
    log.write_bytes(bytes(data))
    assert main(["verify", str(ledger), "--key-dir", str(keys)]) == 1
    captured = capsys.readouterr()
    assert "first bad entry 13" in captured.out
    assert "verify" in captured.err  # the progress bar goes to stderr


def test_usage_errors_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tmp_path / "missing"), "--vkey", "x+00000000+AA=="]) == 2
    assert "not a ledger" in capsys.readouterr().err
    assert main(["append", str(tmp_path / "ledger"), str(tmp_path / "none.txt")]) == 2
    assert "none.txt" in capsys.readouterr().err
    (tmp_path / "e.txt").write_text("x")
    main(["append", str(tmp_path / "ledger"), str(tmp_path / "e.txt")])
    assert main(["prove", str(tmp_path / "ledger"), "0"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
