"""Errors raised by the lineage package.

Contract: every message names the input and the problem and says what to do. All are terminal
(:class:`~provenance.exceptions.ProvenanceError`); a ledger held by another writer for longer
than the configured wait surfaces as the ledger's own retryable
:class:`~provenance.exceptions.LedgerBusyError`.
"""

from __future__ import annotations

from provenance.exceptions import ProvenanceError


class LineageError(ProvenanceError):
    """Base class of the lineage package's errors."""


class LineageConfigError(LineageError):
    """A lineage setting, transport config or server config is invalid (names the field)."""


class EventInvalidError(LineageError):
    """An OpenLineage event does not validate against its schemas.

    Attributes:
        errors: one ``"<json path>: <problem>"`` line per violation, first ones first.
    """

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class EventBuildError(LineageError):
    """An event could not be built from its inputs (a missing dbt node, a bad run id ...)."""


class UnknownDatasetError(LineageError):
    """A lineage query names a dataset that no event in the ledger mentions."""
