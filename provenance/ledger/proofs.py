"""Merkle proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) and the proof JSON format.

Contract: a verifier trusts nothing but the root hashes it is given. Every rejection raises
`ProofError` whose `got`/`want` say what differed (proof length, hash size, calculated root).
Sizes follow RFC 9162: inclusion needs `0 <= index < size`; consistency needs
`0 < size1 <= size2` (a proof from the empty tree is meaningless and is rejected); equal sizes
need an empty proof and equal roots.

Proof JSON uses the field names of the transparency-dev/merkle test vectors, hashes in standard
base64: `{"leafIdx", "treeSize", "leafHash", "proof"}` and `{"size1", "size2", "proof"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from provenance.exceptions import ProofError
from provenance.ledger.hasher import RFC6962, Sha256Hasher

__all__ = [
    "ConsistencyProof",
    "InclusionProof",
    "root_from_inclusion_proof",
    "verify_consistency_proof",
    "verify_inclusion_proof",
]


def _lsb(n: int) -> int:
    return n & 1


def _inclusion_length(index: int, size: int) -> int:
    # Siblings below the level where the paths to `index` and `size - 1` meet, plus one
    # left-hand sibling per set bit of `index` above that level (RFC 9162 2.1.3.1).
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")


def _check_hashes(what: str, hashes: list[bytes], size: int) -> None:
    for i, h in enumerate(hashes):
        if len(h) != size:
            raise ProofError(
                f"{what} hash {i} is {len(h)} bytes, want {size}", got=len(h), want=size
            )


def _mismatch(what: str, got: bytes, want: bytes) -> ProofError:
    return ProofError(
        f"calculated {what} {got.hex()} does not match expected {what} {want.hex()}",
        got=got,
        want=want,
    )


def root_from_inclusion_proof(
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: list[bytes],
    *,
    hasher: Sha256Hasher = RFC6962,
) -> bytes:
    """Return the root that `proof` implies for leaf `index` of a tree of `size` leaves.

    Raises:
        ProofError: when the index is out of range or the proof or leaf hash has the wrong size.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is beyond tree size {size}", got=index, want=size)
    if len(leaf_hash) != hasher.size:
        raise ProofError(
            f"leaf hash is {len(leaf_hash)} bytes, want {hasher.size}",
            got=len(leaf_hash),
            want=hasher.size,
        )
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} has {len(proof)} hashes, want {want}",
            got=len(proof),
            want=want,
        )
    _check_hashes("inclusion proof", proof, hasher.size)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC's guard
            raise ProofError("inclusion proof is longer than the path", got=len(proof), want=want)
        if _lsb(fn) or fn == sn:
            r = hasher.hash_children(p, r)
            while fn and not _lsb(fn):
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hasher.hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path", got=len(proof), want=want)
    return r


def verify_inclusion_proof(
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: list[bytes],
    root: bytes,
    *,
    hasher: Sha256Hasher = RFC6962,
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`.

    Raises:
        ProofError: with got/want when the proof is malformed or leads to another root.
    """
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof, hasher=hasher)
    if calculated != root:
        raise _mismatch("root", calculated, root)


def _consistency_length(size1: int, size2: int) -> int:
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = bin((size1 - 1) >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    seed = 0 if size1 == 1 << shift else 1  # the old root is in the proof unless a power of two
    return seed + (inner - shift) + border


def verify_consistency_proof(
    size1: int,
    size2: int,
    proof: list[bytes],
    root1: bytes,
    root2: bytes,
    *,
    hasher: Sha256Hasher = RFC6962,
) -> None:
    """Check that the tree of `size2` leaves with `root2` extends the tree of `size1` with `root1`.

    Raises:
        ProofError: with got/want when sizes are invalid, the proof is malformed, or either
            recomputed root differs.
    """
    if size2 < size1:
        raise ProofError(
            f"new size {size2} is smaller than old size {size1}", got=size2, want=size1
        )
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless", got=0, want=1)
    if size1 == size2:
        if proof:
            raise ProofError(
                f"sizes are equal ({size1}) but the proof has {len(proof)} hashes, want 0",
                got=len(proof),
                want=0,
            )
        if root1 != root2:
            raise _mismatch("root", root2, root1)
        return
    want = _consistency_length(size1, size2)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof {size1}->{size2} has {len(proof)} hashes, want {want}",
            got=len(proof),
            want=want,
        )
    _check_hashes("consistency proof", proof, hasher.size)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while _lsb(fn):
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path", got=len(proof), want=want)
        if _lsb(fn) or fn == sn:
            fr = hasher.hash_children(c, fr)
            sr = hasher.hash_children(c, sr)
            while fn and not _lsb(fn):
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hasher.hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path", got=len(proof), want=want)
    if fr != root1:
        raise _mismatch("old root", fr, root1)
    if sr != root2:
        raise _mismatch("new root", sr, root2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(field: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ProofError(
            f"proof field {field!r} must be a base64 string, got {type(value).__name__}"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ProofError(f"proof field {field!r} is not valid base64: {err}") from err


def _int(doc: dict[str, Any], field: str) -> int:
    value = doc.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"proof field {field!r} must be a non-negative integer, got {value!r}")
    return value


def _hashes(doc: dict[str, Any]) -> list[bytes]:
    items = doc.get("proof") or []
    if not isinstance(items, list):
        raise ProofError(f"proof field 'proof' must be a list, got {type(items).__name__}")
    return [_unb64(f"proof[{i}]", h) for i, h in enumerate(items)]


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise ProofError(f"proof is not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ProofError("proof JSON must be an object")
    return doc


@dataclass(frozen=True)
class InclusionProof:
    """An inclusion proof for leaf `index` in the tree of `tree_size` leaves."""

    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]

    def to_json(self) -> str:
        """Serialise as JSON (field names as in the transparency-dev/merkle vectors)."""
        doc = {
            "leafIdx": self.index,
            "treeSize": self.tree_size,
            "leafHash": _b64(self.leaf_hash),
            "proof": [_b64(h) for h in self.hashes],
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionProof:
        """Parse the JSON written by `to_json`; raises ProofError when a field is missing or bad."""
        doc = _load(text)
        return cls(
            index=_int(doc, "leafIdx"),
            tree_size=_int(doc, "treeSize"),
            leaf_hash=_unb64("leafHash", doc.get("leafHash")),
            hashes=_hashes(doc),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof between the trees of `size1` and `size2` leaves (with their roots)."""

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    hashes: list[bytes]

    def to_json(self) -> str:
        """Serialise as JSON (field names as in the transparency-dev/merkle vectors)."""
        doc = {
            "size1": self.size1,
            "size2": self.size2,
            "root1": _b64(self.root1),
            "root2": _b64(self.root2),
            "proof": [_b64(h) for h in self.hashes],
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyProof:
        """Parse the JSON written by `to_json`; raises ProofError when a field is missing or bad."""
        doc = _load(text)
        return cls(
            size1=_int(doc, "size1"),
            size2=_int(doc, "size2"),
            root1=_unb64("root1", doc.get("root1")),
            root2=_unb64("root2", doc.get("root2")),
            hashes=_hashes(doc),
        )

    def verify(self, *, hasher: Sha256Hasher = RFC6962) -> None:
        """Check the proof against its own roots (compare the roots with signed checkpoints)."""
        verify_consistency_proof(
            self.size1, self.size2, self.hashes, self.root1, self.root2, hasher=hasher
        )
