"""Proof generation from the stored node cache, checked against a from-scratch RFC 9162 tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provenance.exceptions import LedgerConfigError, ProofError
from provenance.ledger import (
    RFC6962,
    ConsistencyProof,
    InclusionProof,
    Ledger,
    verify_consistency_proof,
    verify_inclusion_proof,
)

from .conftest import BuiltLedger


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1, recursively."""
    if not leaves:
        return RFC6962.empty_root()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return RFC6962.hash_children(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_every_inclusion_and_consistency_proof_up_to_40_leaves_verifies(tmp_path: Path) -> None:
    leaves: list[bytes] = []
    with Ledger.open(tmp_path / "ledger") as ledger:
        for n in range(1, 41):
            ledger.append(f"entry {n}".encode())
            leaves.append(RFC6962.hash_leaf(f"entry {n}".encode()))
        for size in range(1, 41):
            root = reference_root(leaves[:size])
            assert ledger.root(size) == root
            for index in range(size):
                proof = ledger.inclusion_proof(index, size)
                verify_inclusion_proof(index, size, leaves[index], proof.hashes, root)
            for old in range(1, size + 1):
                proof = ledger.consistency_proof(old, size)
                assert (proof.root1, proof.root2) == (reference_root(leaves[:old]), root)
                proof.verify()


def test_proofs_on_a_large_ledger_verify_and_stay_logarithmic(
    build_ledger: Callable[..., BuiltLedger],
) -> None:
    built = build_ledger(1500, checkpoint_at=(1000,))
    with built.open(read_only=True) as ledger:
        root = ledger.root()
        for index in (0, 1, 511, 999, 1000, 1499):
            proof = ledger.inclusion_proof(index)
            assert len(proof.hashes) <= 11
            leaf = RFC6962.hash_leaf(built.entries[index])
            verify_inclusion_proof(index, 1500, leaf, proof.hashes, root)
        ledger.consistency_proof(1000).verify()


def test_proofs_round_trip_through_json(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many([b"a", b"b", b"c"])
        inclusion = ledger.inclusion_proof(2)
        consistency = ledger.consistency_proof(1)
    assert InclusionProof.from_json(inclusion.to_json()) == inclusion
    assert ConsistencyProof.from_json(consistency.to_json()) == consistency


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"leafIdx": -1, "treeSize": 1, "leafHash": ""}',
        '{"leafIdx": 0, "treeSize": 1, "leafHash": "%%%"}',
        '{"leafIdx": 0, "treeSize": 1, "leafHash": "", "proof": "x"}',
    ],
)
def test_malformed_proof_json_is_rejected_with_a_proof_error(text: str) -> None:
    with pytest.raises(ProofError):
        InclusionProof.from_json(text)


def test_a_tampered_proof_fails_with_got_and_want(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many([bytes([i]) for i in range(7)])
        proof = ledger.inclusion_proof(3)
        root = ledger.root()
    bad = [proof.hashes[0][:-1] + b"\x00", *proof.hashes[1:]]
    with pytest.raises(ProofError) as err:
        verify_inclusion_proof(3, 7, proof.leaf_hash, bad, root)
    assert err.value.want == root and err.value.got != root
    with pytest.raises(ProofError) as short_hash:
        verify_inclusion_proof(3, 7, proof.leaf_hash, [b"x", *proof.hashes[1:]], root)
    assert (short_hash.value.got, short_hash.value.want) == (1, 32)


def test_out_of_range_requests_are_refused(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many([b"a", b"b"])
        with pytest.raises(LedgerConfigError):
            ledger.inclusion_proof(2)
        with pytest.raises(LedgerConfigError):
            ledger.inclusion_proof(0, 3)
        with pytest.raises(LedgerConfigError):
            ledger.consistency_proof(0, 2)
        with pytest.raises(LedgerConfigError):
            ledger.consistency_proof(2, 1)
    with pytest.raises(ProofError):
        verify_consistency_proof(0, 2, [], RFC6962.empty_root(), bytes(32))
