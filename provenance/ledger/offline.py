"""Offline verification for auditors: one entry against a signed checkpoint, without the ledger.

Contract: the auditor needs only the entry bytes, the proof JSON, the signed checkpoint note and
the ledger's verifier key (obtained out of band). Nothing from the ledger is trusted: the
checkpoint's signature is checked first, then the proof is checked against its root.
"""

from __future__ import annotations

from provenance.exceptions import ProofError
from provenance.ledger.checkpoint import Checkpoint
from provenance.ledger.hasher import RFC6962
from provenance.ledger.note import Verifier
from provenance.ledger.proofs import ConsistencyProof, InclusionProof, verify_inclusion_proof

__all__ = ["verify_consistency", "verify_inclusion"]


def _verifier(key: Verifier | str) -> Verifier:
    return key if isinstance(key, Verifier) else Verifier.from_vkey(key)


def verify_inclusion(
    entry: bytes,
    proof: InclusionProof,
    checkpoint: bytes | str,
    verifier: Verifier | str,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Check that `entry` is in the ledger as of a signed checkpoint; return that checkpoint.

    Args:
        entry: the entry's exact bytes.
        proof: the inclusion proof (from `Ledger.inclusion_proof` or the `prove` command).
        checkpoint: the signed checkpoint note.
        verifier: the ledger's verifier key (a `Verifier` or its vkey string).
        origin: if given, the checkpoint must be for this origin.

    Raises:
        NoteError: the checkpoint is malformed or not signed by `verifier`.
        ProofError: the proof does not place `entry` under the checkpoint's root (got/want say
            what differed).
    """
    cp = Checkpoint.open(checkpoint, _verifier(verifier))
    if origin is not None and cp.origin != origin:
        raise ProofError(f"checkpoint is for origin {cp.origin!r}", got=cp.origin, want=origin)
    if proof.tree_size != cp.size:
        raise ProofError(
            f"proof is for tree size {proof.tree_size}, the checkpoint for {cp.size}; "
            "request a proof at the checkpoint's size",
            got=proof.tree_size,
            want=cp.size,
        )
    leaf = RFC6962.hash_leaf(entry)
    if proof.leaf_hash and proof.leaf_hash != leaf:
        raise ProofError(
            f"entry hashes to {leaf.hex()} but the proof is for leaf {proof.leaf_hash.hex()}",
            got=leaf,
            want=proof.leaf_hash,
        )
    verify_inclusion_proof(proof.index, cp.size, leaf, proof.hashes, cp.root)
    return cp


def verify_consistency(
    old: bytes | str, new: bytes | str, proof: ConsistencyProof, verifier: Verifier | str
) -> tuple[Checkpoint, Checkpoint]:
    """Check that signed checkpoint `new` extends signed checkpoint `old`; return both.

    Raises:
        NoteError: a checkpoint is malformed or not signed by `verifier`.
        ProofError: the proof does not link the two checkpoints' roots.
    """
    key = _verifier(verifier)
    first, second = Checkpoint.open(old, key), Checkpoint.open(new, key)
    if (proof.size1, proof.size2) != (first.size, second.size):
        raise ProofError(
            "proof sizes do not match the checkpoints",
            got=(proof.size1, proof.size2),
            want=(first.size, second.size),
        )
    ConsistencyProof(first.size, second.size, first.root, second.root, proof.hashes).verify()
    return first, second
