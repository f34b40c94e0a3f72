"""Ledger checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes.

Contract: the note text is exactly three lines — origin, tree size (decimal, no leading zeros),
base64 root hash — plus optional non-empty extension lines. A checkpoint read from anywhere is
only trusted after `Checkpoint.open` has verified its signature with a verifier key obtained
out of band (never from the ledger directory itself).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from provenance.exceptions import NoteError
from provenance.ledger.hasher import HASH_SIZE
from provenance.ledger.note import SignedNote, Signer, Verifier

__all__ = ["Checkpoint", "SignedCheckpoint"]

_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the ledger's tree: its origin, size and root hash.

    >>> cp = Checkpoint(origin="example.com/log", size=0, root=bytes(32))
    >>> Checkpoint.parse(cp.to_text()) == cp
    True
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def to_text(self) -> str:
        """Return the checkpoint note text (three lines plus extensions, newline-terminated)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text strictly; raises NoteError when it is malformed."""
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise NoteError(
                "checkpoint text must be at least three non-empty lines: origin, size, root"
            )
        origin, size_line, root_line, *extensions = lines
        if not _SIZE.fullmatch(size_line):
            raise NoteError(f"checkpoint tree size {size_line!r} is not a decimal number")
        try:
            root = base64.b64decode(root_line.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError) as err:
            raise NoteError(f"checkpoint root hash {root_line!r} is not base64: {err}") from err
        if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != root_line:
            raise NoteError(
                f"checkpoint root hash {root_line!r} is not a canonical {HASH_SIZE}-byte hash"
            )
        return cls(origin=origin, size=int(size_line), root=root, extensions=tuple(extensions))

    def sign(self, signer: Signer) -> bytes:
        """Return this checkpoint as a signed note (wire bytes)."""
        return SignedNote.sign(self.to_text(), [signer]).to_bytes()

    @classmethod
    def open(cls, note: bytes | str, verifiers: Verifier | list[Verifier]) -> Checkpoint:
        """Verify a signed checkpoint note and return the checkpoint it states.

        Args:
            note: the signed note bytes, as written by `sign` or read from the ledger.
            verifiers: the trusted key(s); at least one must have signed the note.

        Raises:
            NoteError: when the note is malformed, unsigned by a trusted key, or not a checkpoint.
        """
        trusted = [verifiers] if isinstance(verifiers, Verifier) else verifiers
        return cls.parse(SignedNote.parse(note).open(trusted))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint as stored by the ledger: its number in the list, the statement, the note."""

    number: int
    checkpoint: Checkpoint
    note: bytes
