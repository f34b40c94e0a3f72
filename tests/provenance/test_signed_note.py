"""C2SP signed notes and tlog checkpoints: Go sumdb/note known answers, strict parsing."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from provenance.exceptions import KeyFileError, NoteError
from provenance.ledger import Checkpoint, SignedNote, Signer, Verifier
from provenance.ledger.keys import load_signer

# golang.org/x/mod/sumdb/note's documented example key and note (Ed25519 is deterministic).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture
def go_signer(tmp_path: Path) -> Signer:
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    path = key_dir / "PeterNeumann.key"
    path.write_text(GO_SKEY + "\n")
    os.chmod(path, 0o600)
    return load_signer(key_dir, "PeterNeumann")


def test_go_reference_key_has_the_published_key_id_and_vkey(go_signer: Signer) -> None:
    assert go_signer.verifier.key_id == 0xC74F20A3
    assert go_signer.verifier.vkey == GO_VKEY
    assert Verifier.from_vkey(GO_VKEY) == go_signer.verifier


def test_signing_reproduces_the_go_reference_note_byte_for_byte(go_signer: Signer) -> None:
    assert SignedNote.sign(GO_TEXT, [go_signer]).to_bytes() == GO_NOTE.encode()


def test_the_go_reference_note_opens_with_its_vkey() -> None:
    assert SignedNote.parse(GO_NOTE.encode()).open([Verifier.from_vkey(GO_VKEY)]) == GO_TEXT


def test_an_altered_note_text_fails_to_open() -> None:
    altered = GO_NOTE.replace("cryptography", "cryptographY")
    with pytest.raises(NoteError, match="does not verify"):
        SignedNote.parse(altered).open([Verifier.from_vkey(GO_VKEY)])


def test_signatures_from_unknown_keys_are_ignored_but_one_trusted_is_required() -> None:
    other, trusted = Signer.generate("other.example"), Signer.generate("trusted.example")
    note = SignedNote.sign("hello\n", [other, trusted]).to_bytes()
    assert SignedNote.parse(note).open([trusted.verifier]) == "hello\n"
    with pytest.raises(NoteError, match="not signed by a trusted key"):
        SignedNote.parse(note).open([Signer.generate("third.example").verifier])


@pytest.mark.parametrize(
    "note",
    [
        b"text\n",  # no signatures
        b"text\n\n",  # blank line but no signature lines
        b"text\n\n- name AAAAAAA=\n",  # hyphen instead of em dash
        "text\n\n— name AAAAAAA=".encode(),  # no final newline
        "text\n\n— name AAAAAAB=\n".encode(),  # non-canonical base64
        "text\n\n— name AAAA\n".encode(),  # too short for key ID + signature
        "te\txt\n\n— name AAAAAAA=\n".encode(),  # control character
        b"text\n\n\xe2\x80 name AAAAAAA=\n",  # invalid UTF-8
    ],
)
def test_malformed_notes_are_rejected(note: bytes) -> None:
    with pytest.raises(NoteError):
        SignedNote.parse(note)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # bad key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space
        "PeterNeumann+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(KeyFileError):
        Verifier.from_vkey(vkey)


def test_checkpoint_text_is_origin_size_and_base64_root() -> None:
    root = bytes(range(32))
    cp = Checkpoint(origin="example.com/log", size=20852163, root=root)
    assert cp.to_text() == (f"example.com/log\n20852163\n{base64.b64encode(root).decode()}\n")
    assert Checkpoint.parse(cp.to_text()) == cp


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # leading zero
        "example.com/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=\n",  # short root
        "example.com/log\n12\n",  # missing root
        "example.com/log\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",  # empty ext
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_a_signed_checkpoint_opens_only_with_its_key() -> None:
    signer = Signer.generate("example.com/log")
    cp = Checkpoint(origin="example.com/log", size=3, root=bytes(32))
    note = cp.sign(signer)
    assert note.decode().startswith(cp.to_text() + "\n— example.com/log ")
    assert Checkpoint.open(note, signer.verifier) == cp
    with pytest.raises(NoteError):
        Checkpoint.open(note, Signer.generate("example.com/log").verifier)
