"""Merkle tree arithmetic over stored node hashes: roots and proof generation (RFC 9162 2.1).

Contract: a tree of `n` leaves is hashed as in RFC 9162 section 2.1.1 (split at the largest power
of two smaller than `n`). The ledger stores every *perfect* subtree hash: level `k`, index `i`
covers leaves `[i * 2**k, (i + 1) * 2**k)`. Any other subtree the RFC recursion needs sits on the
tree's right border and is folded here from at most log2(n) stored nodes, so roots and proofs
cost O(log n) node reads (O(log² n) hashes in the worst case), independent of the log's size.
"""

from __future__ import annotations

from collections.abc import Callable

from provenance.exceptions import LedgerConfigError
from provenance.ledger.hasher import RFC6962, Sha256Hasher

__all__ = [
    "CompactRange",
    "NodeReader",
    "consistency_path",
    "inclusion_path",
    "range_hash",
    "split_point",
]

NodeReader = Callable[[int, int], bytes]
"""`get_node(level, index)` returns the stored hash of a perfect subtree."""


def split_point(n: int) -> int:
    """Return the largest power of two strictly smaller than `n` (RFC 9162's `k`); `n >= 2`."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(lo: int, hi: int, get_node: NodeReader, *, hasher: Sha256Hasher = RFC6962) -> bytes:
    """Return MTH(D[lo:hi]) from stored perfect nodes.

    `lo` must be a multiple of the smallest power of two >= `hi - lo`, which holds for every
    range the RFC recursion visits. The range splits into one perfect node per set bit of its
    length; folding them from the right reproduces the RFC's split at the largest power of two.

    Args:
        lo: first leaf index of the range.
        hi: one past the last leaf index; `hi > lo`, or `hi == lo == 0` for the empty tree.
        get_node: reads a stored perfect node.
        hasher: the tree hasher.
    """
    count = hi - lo
    if count == 0:
        return hasher.empty_root()
    nodes: list[bytes] = []
    pos = lo
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            nodes.append(get_node(level, pos >> level))
            pos += 1 << level
    acc = nodes[-1]
    for node in reversed(nodes[:-1]):
        acc = hasher.hash_children(node, acc)
    return acc


def inclusion_path(
    index: int, size: int, get_node: NodeReader, *, hasher: Sha256Hasher = RFC6962
) -> list[bytes]:
    """Return the RFC 9162 inclusion proof PATH(index, D[0:size]), lowest sibling first.

    Raises:
        LedgerConfigError: when `index` is not in `[0, size)`.
    """
    if not 0 <= index < size:
        raise LedgerConfigError(
            f"cannot prove leaf {index} in a tree of size {size}: the index must be in [0, size)"
        )
    siblings: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + split_point(hi - lo)
        if index < mid:
            siblings.append(range_hash(mid, hi, get_node, hasher=hasher))
            hi = mid
        else:
            siblings.append(range_hash(lo, mid, get_node, hasher=hasher))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_path(
    size1: int, size2: int, get_node: NodeReader, *, hasher: Sha256Hasher = RFC6962
) -> list[bytes]:
    """Return the RFC 9162 consistency proof PROOF(size1, D[0:size2]), lowest node first.

    Raises:
        LedgerConfigError: unless `0 < size1 <= size2`; a proof from the empty tree means nothing.
    """
    if not 0 < size1 <= size2:
        raise LedgerConfigError(
            f"cannot prove consistency from size {size1} to size {size2}: "
            "need 0 < old size <= new size"
        )
    nodes: list[bytes] = []
    lo, hi, rel, whole = 0, size2, size1, True
    while rel != hi - lo:
        k = split_point(hi - lo)
        if rel <= k:
            nodes.append(range_hash(lo + k, hi, get_node, hasher=hasher))
            hi = lo + k
        else:
            nodes.append(range_hash(lo, lo + k, get_node, hasher=hasher))
            lo, rel, whole = lo + k, rel - k, False
    if not whole:
        nodes.append(range_hash(lo, hi, get_node, hasher=hasher))
    nodes.reverse()
    return nodes


class CompactRange:
    """The perfect subtrees covering leaves `[0, size)`: one per set bit of `size`.

    It is all the state needed to keep appending: `extend` returns every perfect node the new
    leaves complete, level by level, which is what the store persists.

    >>> cr = CompactRange()
    >>> levels = cr.extend([RFC6962.hash_leaf(b"a"), RFC6962.hash_leaf(b"b")])
    >>> [len(level) for level in levels], cr.size
    ([2, 1], 2)
    """

    def __init__(
        self,
        *,
        size: int = 0,
        nodes: dict[int, bytes] | None = None,
        hasher: Sha256Hasher = RFC6962,
    ) -> None:
        """Args:
        size: number of leaves already covered.
        nodes: level -> hash of the rightmost perfect node at each set bit of `size`.
        hasher: the tree hasher.
        """
        self.size = size
        self.hasher = hasher
        self._nodes = dict(nodes or {})
        if sorted(self._nodes) != [k for k in range(size.bit_length()) if size >> k & 1]:
            raise LedgerConfigError(
                f"compact range for size {size} needs nodes at levels "
                f"{[k for k in range(size.bit_length()) if size >> k & 1]}, "
                f"got {sorted(self._nodes)}"
            )

    @classmethod
    def at(cls, size: int, get_node: NodeReader, *, hasher: Sha256Hasher = RFC6962) -> CompactRange:
        """Build the compact range of a stored tree of `size` leaves."""
        nodes = {k: get_node(k, (size >> k) - 1) for k in range(size.bit_length()) if size >> k & 1}
        return cls(size=size, nodes=nodes, hasher=hasher)

    def extend(self, leaf_hashes: list[bytes]) -> list[list[bytes]]:
        """Append leaves; return the new perfect nodes per level.

        `result[k]` holds the level-`k` nodes with indices from `old_size >> k` upwards.
        """
        levels: list[list[bytes]] = []
        pending = leaf_hashes
        level = 0
        while pending:
            levels.append(pending)
            carry = self._nodes.pop(level, None)
            seq = [carry, *pending] if carry is not None else pending
            if len(seq) % 2:
                self._nodes[level] = seq[-1]
            pending = self.hasher.hash_level(seq)
            level += 1
        self.size += len(leaf_hashes)
        return levels

    def root(self) -> bytes:
        """Return the root hash of the covered tree (the empty-tree hash when size is 0)."""
        if not self._nodes:
            return self.hasher.empty_root()
        levels = sorted(self._nodes)
        acc = self._nodes[levels[0]]
        for level in levels[1:]:
            acc = self.hasher.hash_children(self._nodes[level], acc)
        return acc

    def copy(self) -> CompactRange:
        """Return an independent copy (to compute roots without disturbing this range)."""
        return CompactRange(size=self.size, nodes=self._nodes, hasher=self.hasher)
