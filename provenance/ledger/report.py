"""The outcome of a full ledger verification: findings by kind, first bad index first.

Contract: a `VerifyReport` lists problems (each with a kind — "entry", "checkpoint" or
"cache" — an index and a message) and informational notes. `first_bad_entry` and
`first_bad_checkpoint` are the lowest indexes of each kind; `raise_for_problems` raises
`LedgerCorruptError` for the most important one (entries, then checkpoints, then the cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from provenance.exceptions import LedgerCorruptError

__all__ = ["Kind", "Problem", "VerifyReport"]

Kind = Literal["entry", "checkpoint", "cache"]
_KINDS: tuple[Kind, ...] = ("entry", "checkpoint", "cache")


@dataclass(frozen=True)
class Problem:
    """One finding: what is bad (`kind`), where (`index`), and why."""

    kind: Kind
    index: int
    message: str


@dataclass
class VerifyReport:
    """The outcome of `verify_ledger`."""

    origin: str
    size: int
    root: bytes
    checkpoints: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def first(self, kind: Kind) -> Problem | None:
        """The problem of `kind` with the lowest index, if any."""
        found = [p for p in self.problems if p.kind == kind]
        return min(found, key=lambda p: p.index) if found else None

    @property
    def first_bad_entry(self) -> int | None:
        """Index of the first bad entry, if any."""
        problem = self.first("entry")
        return problem.index if problem else None

    @property
    def first_bad_checkpoint(self) -> int | None:
        """Number of the first bad checkpoint, if any."""
        problem = self.first("checkpoint")
        return problem.index if problem else None

    def summary(self) -> str:
        """One line per finding, the verdict first."""
        if self.ok:
            lines = [
                f"OK: {self.origin}: {self.size} entries, root {self.root.hex()}, "
                f"{self.checkpoints} checkpoints verified"
            ]
        else:
            first = [p for p in (self.first(k) for k in _KINDS) if p]
            lines = [f"FAILED: {self.origin}: {len(self.problems)} problem(s)"]
            lines += [f"first bad {p.kind} {p.index}: {p.message}" for p in first]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def raise_for_problems(self) -> None:
        """Raise LedgerCorruptError for the first bad entry (else checkpoint, else cache)."""
        for kind in _KINDS:
            problem = self.first(kind)
            if problem is not None:
                raise LedgerCorruptError(
                    f"{problem.kind} {problem.index}: {problem.message}",
                    index=problem.index,
                    kind=problem.kind,
                )
