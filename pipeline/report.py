"""What one ingest run did for a dataset: every input's result, input errors, tables afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.exceptions import SourceUnavailableError
from pipeline.ingest import IngestResult


@dataclass
class DatasetReport:
    """All inputs one run ingested for a dataset, plus the tables' state afterwards."""

    dataset: str
    contract_version: str
    results: list[IngestResult] = field(default_factory=list)
    input_errors: list[dict[str, Any]] = field(default_factory=list)
    bronze: dict[str, Any] = field(default_factory=dict)
    quarantine: dict[str, Any] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def retryable_errors(self) -> list[dict[str, Any]]:
        """Errors of sources that could not be reached: the run should fail and be retried."""
        return [e for e in self.input_errors if e.get("retryable")]

    def total(self, attr: str, *, new_only: bool = True) -> int:
        """The input accounting (``read``, ``valid``, ``rejected``, ``duplicates``) summed over the
        inputs this run completed (and, unless ``new_only``, those found already committed)."""
        return sum(
            getattr(r.counts, attr)
            for r in self.results
            if r.status == "committed" or (not new_only and r.status == "already_committed")
        )

    def appended(self, layer: str) -> int:
        """Rows this run appended to ``layer`` (``bronze`` or ``quarantine``): unlike
        :meth:`total`, a recovered input whose rows an earlier, killed attempt committed adds 0."""
        if layer == "bronze":
            return sum(r.rows_appended for r in self.results)
        return sum(r.rows_quarantined_now for r in self.results)

    @property
    def new_inputs(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "committed"]


def input_error(source: str, input_ref: str | None, err: Exception) -> dict[str, Any]:
    """One input error entry of a report: the source, the input, the message, whether retryable."""
    return {
        "source": source,
        "input": input_ref,
        "error": str(err),
        "retryable": isinstance(err, SourceUnavailableError),
    }
