"""The tree hasher: RFC 6962 / RFC 9162 SHA-256 Merkle hashing behind a tiny interface.

Contract: a leaf hash is SHA-256(0x00 || entry bytes) and an interior node is
SHA-256(0x01 || left || right); the hash of the empty tree is SHA-256 of nothing. The prefixes
keep leaves and nodes in separate domains, so no leaf can be passed off as a node.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

__all__ = ["HASH_SIZE", "Hasher", "RFC6962", "Sha256Hasher"]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


@runtime_checkable
class Hasher(Protocol):
    """What the tree and proof code need from a hash function."""

    @property
    def size(self) -> int:
        """Length in bytes of every hash this hasher returns."""
        ...

    def empty_root(self) -> bytes:
        """Return the root hash of a tree with no leaves."""
        ...

    def hash_leaf(self, entry: bytes) -> bytes:
        """Return the leaf hash of one entry's bytes."""
        ...

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """Return the hash of an interior node from its two children."""
        ...


class Sha256Hasher:
    """RFC 6962 hashing with SHA-256 (the only hasher the ledger uses).

    >>> RFC6962.hash_leaf(b"").hex()[:16]
    '6e340b9cffb37a98'
    """

    size = HASH_SIZE

    def empty_root(self) -> bytes:
        return hashlib.sha256(b"").digest()

    def hash_leaf(self, entry: bytes) -> bytes:
        return hashlib.sha256(_LEAF_PREFIX + entry).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(_NODE_PREFIX + left + right).digest()

    def hash_leaves(self, entries: list[bytes]) -> list[bytes]:
        """Return the leaf hashes of many entries (one call keeps bulk paths fast)."""
        sha = hashlib.sha256
        return [sha(_LEAF_PREFIX + e).digest() for e in entries]

    def hash_level(self, nodes: list[bytes]) -> list[bytes]:
        """Return the parents of consecutive pairs of `nodes` (a trailing odd node is dropped)."""
        sha = hashlib.sha256
        pairs = zip(nodes[0::2], nodes[1::2], strict=False)
        return [sha(_NODE_PREFIX + a + b).digest() for a, b in pairs]


RFC6962 = Sha256Hasher()
