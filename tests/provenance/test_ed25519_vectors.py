"""Golden vectors: Wycheproof Ed25519 through the ledger's signature verification function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.ledger import ed25519_verify


def _cases(shared_dir: Path) -> list[tuple[bytes, dict]]:
    doc = json.loads((shared_dir / "test-vectors" / "wycheproof" / "ed25519_test.json").read_text())
    return [
        (bytes.fromhex(group["publicKey"]["pk"]), test)
        for group in doc["testGroups"]
        for test in group["tests"]
    ]


def test_valid_wycheproof_signatures_verify(shared_dir: Path) -> None:
    valid = [(pk, t) for pk, t in _cases(shared_dir) if t["result"] == "valid"]
    assert len(valid) >= 80
    failed = [
        t["tcId"]
        for pk, t in valid
        if not ed25519_verify(pk, bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"]))
    ]
    assert failed == []


def test_invalid_wycheproof_signatures_are_rejected(shared_dir: Path) -> None:
    invalid = [(pk, t) for pk, t in _cases(shared_dir) if t["result"] != "valid"]
    assert len(invalid) >= 60
    accepted = [
        t["tcId"]
        for pk, t in invalid
        if ed25519_verify(pk, bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"]))
    ]
    assert accepted == []


@pytest.mark.parametrize("key_length", [0, 31, 33])
def test_malformed_public_keys_are_rejected_not_raised(key_length: int) -> None:
    assert ed25519_verify(bytes(key_length), b"msg", bytes(64)) is False
