"""The provenance ledger: an append-only Merkle log with signed checkpoints (RFC 6962/9162).

Entries are opaque bytes. **No PII**: callers put hashes and references in entries (content
sha256 digests, dataset URIs, OpenLineage run IDs, contract versions), never row values or
personal data — the log is append-only and cannot erase anything written into it.

Storage is a `LedgerStore` (the local directory store by default); checkpoints are C2SP
tlog-checkpoints signed as C2SP signed notes with an Ed25519 key kept outside the ledger.

>>> import tempfile
>>> from pathlib import Path
>>> tmp = Path(tempfile.mkdtemp())
>>> with Ledger.open(tmp / "ledger", key_dir=tmp / "keys") as ledger:
...     index = ledger.append(b'{"run": "r1", "output_sha256": "9f86d0"}')
...     signed = ledger.checkpoint()
...     proof = ledger.inclusion_proof(index, signed.checkpoint.size)
...     vkey = ledger.verifier.vkey
>>> cp = verify_inclusion(b'{"run": "r1", "output_sha256": "9f86d0"}', proof, signed.note, vkey)
>>> cp.size
1
"""

from provenance.ledger.checkpoint import Checkpoint, SignedCheckpoint
from provenance.ledger.hasher import RFC6962, Hasher
from provenance.ledger.keys import read_verifier
from provenance.ledger.ledger import Ledger
from provenance.ledger.note import SignedNote, Signer, Verifier, ed25519_verify
from provenance.ledger.offline import verify_consistency, verify_inclusion
from provenance.ledger.proofs import (
    ConsistencyProof,
    InclusionProof,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from provenance.ledger.store import LedgerStore, open_store
from provenance.ledger.verify import Problem, VerifyReport, verify_ledger

__all__ = [
    "RFC6962",
    "Checkpoint",
    "ConsistencyProof",
    "Hasher",
    "InclusionProof",
    "Ledger",
    "LedgerStore",
    "Problem",
    "SignedCheckpoint",
    "SignedNote",
    "Signer",
    "Verifier",
    "VerifyReport",
    "ed25519_verify",
    "open_store",
    "read_verifier",
    "verify_consistency",
    "verify_consistency_proof",
    "verify_inclusion",
    "verify_inclusion_proof",
    "verify_ledger",
]
