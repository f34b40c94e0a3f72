"""Errors raised by the provenance package.

Contract: every error names the input and the problem and says what to do. Terminal errors
(corruption, bad proofs, bad signatures, bad configuration) derive from `ProvenanceError`;
errors worth retrying (another writer holds the ledger) derive from `RetryableProvenanceError`.
Callers catch the narrowest type they can handle.
"""

from __future__ import annotations

from typing import Literal


class ProvenanceError(Exception):
    """Base class of terminal provenance errors: retrying the same call will fail again."""


class RetryableProvenanceError(Exception):
    """Base class of transient provenance errors: the same call may succeed later."""


class LedgerConfigError(ProvenanceError):
    """The ledger was opened or used with invalid options (origin, key directory, sizes)."""


class LedgerStorageError(ProvenanceError):
    """The ledger's storage could not be read or written (disk full, permissions, missing files)."""


class LedgerBusyError(RetryableProvenanceError):
    """Another process holds the ledger's writer lock; retry once it has closed the ledger."""


class LedgerCorruptError(ProvenanceError):
    """Stored ledger data is damaged or was altered.

    Attributes:
        index: the first bad entry index (`kind == "entry"`), checkpoint number
            (`kind == "checkpoint"`) or cached node index (`kind == "cache"`); None if unknown.
        kind: what `index` counts.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        kind: Literal["entry", "checkpoint", "cache"] = "entry",
    ) -> None:
        super().__init__(message)
        self.index = index
        self.kind = kind


class ProofError(ProvenanceError):
    """A Merkle proof or its inputs failed verification.

    Attributes:
        got: the value the proof (or input) produced, if the check compares values.
        want: the value it had to produce.
    """

    def __init__(self, message: str, *, got: object = None, want: object = None) -> None:
        super().__init__(message)
        self.got = got
        self.want = want


class NoteError(ProvenanceError):
    """A signed note or checkpoint is malformed, or no trusted key signed it."""


class KeyFileError(ProvenanceError):
    """A signing or verifier key is missing, malformed or stored with unsafe permissions."""
