"""Full ledger verification: recompute the tree from stored entries and audit every checkpoint.

Contract: `verify_ledger` trusts only the entry bytes it reads and the verifier key it is given.
It reads every entry in order (checking framing), recomputes every leaf and node hash and the
root at each checkpoint's size, checks each checkpoint's signature, origin and root, that sizes
never go backwards, and that consecutive checkpoints are consistent (by a consistency proof built
from the node cache). The node cache is compared with the recomputed hashes as it goes, which is
what pins an altered, removed, inserted, reordered or duplicated entry to its exact index. It
changes nothing on disk. Problems are collected, not raised; `VerifyReport.raise_for_problems`
turns the first into a `LedgerCorruptError`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from provenance.exceptions import LedgerConfigError, LedgerCorruptError, NoteError, ProofError
from provenance.ledger.checkpoint import Checkpoint
from provenance.ledger.hasher import HASH_SIZE, RFC6962
from provenance.ledger.note import Verifier
from provenance.ledger.proofs import verify_consistency_proof
from provenance.ledger.report import Kind, Problem, VerifyReport
from provenance.ledger.store import LedgerStore, open_store
from provenance.ledger.tree import CompactRange, consistency_path

__all__ = ["Problem", "VerifyReport", "verify_ledger"]

_BATCH = 1 << 16


def _first_diff(got: bytes, want: bytes) -> int:
    for i in range(0, min(len(got), len(want)), HASH_SIZE):
        if got[i : i + HASH_SIZE] != want[i : i + HASH_SIZE]:
            return i // HASH_SIZE
    return min(len(got), len(want)) // HASH_SIZE


class _Audit:
    def __init__(self, store: LedgerStore, verifier: Verifier | None) -> None:
        self.store = store
        self.verifier = verifier
        self.report = VerifyReport(store.origin, 0, RFC6962.empty_root(), 0)
        self.indexed = store.size
        self.cached = [store.node_count(k) for k in range(max(self.indexed.bit_length(), 1))]
        self.compact = CompactRange()
        self.roots: dict[int, bytes] = {0: RFC6962.empty_root()}
        self.bad_entry: int | None = None
        self.bad_cache = False
        self.leaf_mismatch: int | None = None  # first entry whose hash differs from the index

    def problem(self, kind: Kind, index: int, message: str) -> None:
        if kind == "entry":
            if self.bad_entry is not None and self.bad_entry <= index:
                return  # later damage is usually a consequence; the first index is what counts
            self.bad_entry = index
        if kind == "cache":
            if self.bad_cache or self.bad_entry is not None:
                return
            self.bad_cache = True
        self.report.problems.append(Problem(kind, index, message))

    def checkpoints(self) -> list[tuple[int, Checkpoint]]:
        numbers = self.store.checkpoint_numbers()
        self.report.checkpoints = len(numbers)
        if numbers and self.verifier is None:
            raise LedgerConfigError("the ledger has checkpoints: pass the verifier key to verify")
        for expected, number in enumerate(numbers):
            if number != expected:
                self.problem("checkpoint", expected, f"checkpoint {expected} is missing")
                break
        good: list[tuple[int, Checkpoint]] = []
        for number in numbers:
            try:
                cp = Checkpoint.open(self.store.read_checkpoint(number), self.verifier or [])
            except (NoteError, LedgerCorruptError) as err:
                self.problem("checkpoint", number, f"does not verify: {err}")
                continue
            if cp.origin != self.store.origin:
                self.problem("checkpoint", number, f"origin {cp.origin!r} is not this ledger's")
            elif good and cp.size < good[-1][1].size:
                self.problem(
                    "checkpoint",
                    number,
                    f"size {cp.size} is below checkpoint {good[-1][0]}'s {good[-1][1].size}",
                )
            else:
                good.append((number, cp))
        return good

    def extend(self, hashes: list[bytes], boundaries: set[int]) -> None:
        """Add leaves to the recomputed tree, comparing each new node with the cache."""
        pos, end = 0, self.compact.size + len(hashes)
        stops = sorted(b for b in boundaries if self.compact.size < b <= end)
        for stop in [*stops, end]:
            old = self.compact.size
            piece = hashes[pos : stop - old + pos]
            pos += len(piece)
            for level, nodes in enumerate(self.compact.extend(piece)):
                self.compare(level, old >> level, nodes)
            if self.compact.size in boundaries:
                self.roots[self.compact.size] = self.compact.root()

    def compare(self, level: int, start: int, nodes: list[bytes]) -> None:
        cached = self.cached[level] if level < len(self.cached) else 0
        stop = min(start + len(nodes), cached)
        if stop <= start:
            return
        got = b"".join(nodes[: stop - start])
        stored = self.store.nodes(level, start, stop)
        if got == stored:
            return
        at = start + _first_diff(got, stored)
        if level == 0:
            # Entry or index? Decided once the signed roots are known (see _finish).
            if self.leaf_mismatch is None:
                self.leaf_mismatch = at
        else:
            self.problem(
                "cache",
                at,
                f"index node {at} of level {level} differs from the recomputed hash; "
                "delete the index/ folder and reopen the ledger for writing to rebuild it",
            )


def verify_ledger(
    ledger: LedgerStore | str | Path, *, verifier: Verifier | None, progress: bool = False
) -> VerifyReport:
    """Verify a ledger completely; see the module docstring for what is checked.

    Args:
        ledger: an open store, or the ledger's location (opened read-only).
        verifier: the trusted checkpoint key (needed when the ledger has checkpoints).
        progress: show a tqdm progress bar on stderr.
    """
    if isinstance(ledger, str | Path):
        store = open_store(ledger, mode="read")
        try:
            return verify_ledger(store, verifier=verifier, progress=progress)
        finally:
            store.close()
    audit = _Audit(ledger, verifier)
    checkpoints = audit.checkpoints()
    strict = max([audit.indexed, *(cp.size for _, cp in checkpoints)])
    boundaries = {cp.size for _, cp in checkpoints}
    extra = 0
    with tqdm(
        total=strict,
        unit="entry",
        desc="verify",
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        try:
            for batch in ledger.scan_leaves(batch=_BATCH):
                keep = batch[: max(0, strict - audit.compact.size)]
                extra += len(batch) - len(keep)
                if keep:
                    audit.extend(keep, boundaries)
                    bar.update(len(keep))
        except LedgerCorruptError as err:
            index = err.index if err.index is not None else audit.compact.size
            if index < strict:
                audit.problem("entry", index, str(err))
            else:
                audit.report.notes.append(
                    f"torn record after the indexed entries ({err}): an interrupted append; "
                    "opening the ledger for writing removes it"
                )
    _finish(audit, checkpoints, extra)
    return audit.report


def _finish(audit: _Audit, checkpoints: list[tuple[int, Checkpoint]], extra: int) -> None:
    read = audit.compact.size
    report = audit.report
    report.size, report.root = read, audit.compact.root()
    if read < audit.indexed:
        audit.problem(
            "entry",
            read,
            f"the index covers {audit.indexed} entries but the log ends at {read}: "
            f"entries {read}.. were removed or truncated",
        )
    for level, count in enumerate(audit.cached):
        if level and count != audit.indexed >> level:
            audit.problem(
                "cache",
                count,
                f"index level {level} holds {count} nodes, want "
                f"{audit.indexed >> level}; reopen the ledger for writing to rebuild",
            )
    if extra:
        report.notes.append(
            f"{extra} whole entries follow the {audit.indexed} indexed ones (an interrupted "
            "append); opening the ledger for writing indexes them"
        )
    _classify_leaf_mismatch(audit, checkpoints, read)
    matched = 0
    for number, cp in checkpoints:
        if cp.size > read:
            audit.problem(
                "entry",
                read,
                f"checkpoint {number} covers {cp.size} entries but only "
                f"{read} remain: entries {read}..{cp.size - 1} were removed",
            )
        elif audit.roots[cp.size] != cp.root:
            if audit.bad_entry is None or audit.bad_entry >= cp.size:
                audit.problem(
                    "checkpoint",
                    number,
                    f"signed root {cp.root.hex()} at size {cp.size} differs from the recomputed "
                    f"root {audit.roots[cp.size].hex()}: the checkpoint was replaced, or an entry "
                    f"in [{matched}, {cp.size}) was altered together with its index",
                )
        else:
            matched = cp.size
    _check_consistency(audit, checkpoints, read)


def _classify_leaf_mismatch(
    audit: _Audit, checkpoints: list[tuple[int, Checkpoint]], read: int
) -> None:
    at = audit.leaf_mismatch
    if at is None:
        return
    if any(at < cp.size <= read and audit.roots[cp.size] == cp.root for _, cp in checkpoints):
        audit.problem(
            "cache",
            at,
            f"leaf hash {at} in the index differs from entry {at}, which matches a signed "
            "checkpoint: the index was damaged; delete index/ and reopen the ledger to rebuild it",
        )
    else:
        audit.problem(
            "entry",
            at,
            f"entry {at} does not hash to its indexed leaf hash: it was altered, or entries "
            "were inserted, removed, reordered or duplicated from here on",
        )


def _check_consistency(audit: _Audit, checkpoints: list[tuple[int, Checkpoint]], read: int) -> None:
    if audit.bad_entry is not None or audit.bad_cache:
        audit.report.notes.append("consistency proofs skipped: the index does not match the log")
        return
    for (_, old), (number, new) in zip(checkpoints, checkpoints[1:], strict=False):
        if old.size == 0 or new.size > read:
            continue
        try:
            proof = consistency_path(old.size, new.size, audit.store.node)
            verify_consistency_proof(old.size, new.size, proof, old.root, new.root)
        except (ProofError, LedgerCorruptError) as err:
            audit.problem("checkpoint", number, f"not consistent with its predecessor: {err}")
