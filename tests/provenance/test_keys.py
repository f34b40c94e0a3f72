"""Signing keys: created on first use, mode 0600, outside the ledger, exportable as a vkey."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provenance.exceptions import KeyFileError, LedgerConfigError
from provenance.ledger import Ledger, Verifier, read_verifier
from provenance.ledger.keys import key_path, load_or_create_signer, load_signer


def test_the_key_is_created_on_the_first_checkpoint_with_private_permissions(
    tmp_path: Path,
) -> None:
    key_dir = tmp_path / "keys"
    with Ledger.open(tmp_path / "ledger", key_dir=key_dir, origin="example.com/l") as ledger:
        ledger.append(b"x")
        assert not key_dir.exists()
        ledger.checkpoint()
    key = key_path(key_dir, "example.com/l")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert not any("key" in p.name for p in (tmp_path / "ledger").rglob("*"))


def test_the_same_key_is_reused_across_opens_and_exported_as_vkey(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    with Ledger.open(tmp_path / "ledger", key_dir=key_dir) as ledger:
        first = ledger.verifier.vkey
    with Ledger.open(tmp_path / "ledger", key_dir=key_dir) as ledger:
        assert ledger.verifier.vkey == first
    exported = key_path(key_dir, ledger.origin).with_suffix(".vkey")
    assert read_verifier(str(exported)) == Verifier.from_vkey(first)
    assert read_verifier(first).name == ledger.origin


def test_a_key_directory_inside_the_ledger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LedgerConfigError, match="inside the ledger"):
        Ledger.open(tmp_path / "ledger", key_dir=tmp_path / "ledger" / "keys")


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path, "example.com/l")
    os.chmod(key_path(tmp_path, "example.com/l"), 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_signer(tmp_path, signer.name)


def test_a_missing_or_altered_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no signing key"):
        load_signer(tmp_path, "example.com/l")
    load_or_create_signer(tmp_path, "example.com/l")
    path = key_path(tmp_path, "example.com/l")
    text = path.read_text()
    path.write_text(text.replace("+", "+0", 1))  # name no longer matches
    with pytest.raises(KeyFileError):
        load_signer(tmp_path, "example.com/l")


def test_a_key_file_readable_by_the_group_is_refused_with_the_fix(tmp_path: Path) -> None:
    load_or_create_signer(tmp_path, "example.com/l")
    path = key_path(tmp_path, "example.com/l")
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match=rf"mode 640.*chmod 600 {path}"):
        load_signer(tmp_path, "example.com/l")
    os.chmod(path, 0o600)
    assert load_signer(tmp_path, "example.com/l").name == "example.com/l"


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    load_or_create_signer(real, "example.com/l")
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key_path(keys, "example.com/l").symlink_to(key_path(real, "example.com/l"))
    with pytest.raises(KeyFileError, match="symbolic link"):
        load_signer(keys, "example.com/l")
    with pytest.raises(KeyFileError, match="symbolic link"):
        load_or_create_signer(keys, "example.com/l")  # never replaced by a fresh key either


def test_a_key_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("only root can give a file to another user")
    load_or_create_signer(tmp_path, "example.com/l")
    path = key_path(tmp_path, "example.com/l")
    os.chown(path, 4242, -1)
    with pytest.raises(KeyFileError, match="owned by uid 4242"):
        load_signer(tmp_path, "example.com/l")


def test_a_key_directory_others_can_write_to_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    load_or_create_signer(keys, "example.com/l")
    os.chmod(keys, 0o777)
    with pytest.raises(KeyFileError, match=rf"chmod 700 {keys}"):
        load_signer(keys, "example.com/l")
    with pytest.raises(KeyFileError, match="chmod 700"):
        load_or_create_signer(keys, "example.com/other")


def test_keys_are_private_and_the_verifier_key_public_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_signer(tmp_path / "a" / "keys", "example.com/l")
    finally:
        os.umask(old)
    keys = tmp_path / "a" / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_path(keys, "example.com/l").stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path(keys, "example.com/l").with_suffix(".vkey").stat().st_mode) == 0o644
    assert not [p.name for p in keys.iterdir() if p.name.endswith(".tmp")]
