"""Ingest checks that come from the run rather than the table, and what run metadata may show.

- ``inputs_accepted`` (error severity): every input the run was given could be read and fits the
  contract. An input rejected whole (unreadable, columns that do not fit, a source that could not
  be reached) commits nothing, so the table checks stay green; this check fails instead and names
  each such input and the reason, so the run's checks show what the rows cannot. It does not block
  downstream assets: nothing of a rejected input reached the table, and the other inputs' rows are
  good to build on (blocking would also fail the run, and a retry would reject the same file the
  same way).
- :func:`masked_rows`: the Dagster event log is shown to every UI user and is not governed by the
  policy engine, so rows previewed there show classified columns masked — ``pii`` and
  ``sensitive_pii``, and ``confidential`` too (credit limits, prices, amounts: business secrets that
  the policies deny to most roles). Only ``public`` and ``internal`` values are shown.
- :func:`redacted_error`: an input's error as the event log may show it. A file without a header
  row has its first *data* row read as the header, and the error then lists those values as
  "columns not in contract"; the event log gets their number instead. The full message stays in
  the private error report beside the rejected file (the drop folder's ``_quarantine/``).
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from contracts.model import Contract

__all__ = [
    "INPUTS_CHECK",
    "MASK",
    "SHOWN_CLASSES",
    "inputs_check_result",
    "inputs_check_spec",
    "masked_rows",
    "redacted_error",
]

INPUTS_CHECK = "inputs_accepted"
SHOWN_CLASSES = frozenset({"public", "internal"})
MASK = "••••"
REASON_CHARS = 500
# "...columns not in contract orders v1.0.0: a, b, c (add them ...)" or "...: a, b; next clause".
_UNKNOWN_COLUMNS = re.compile(r"(columns? not in (?:the )?contract[^:\n]*:)([^;(\n]*)", re.IGNORECASE)


def redacted_error(message: str) -> str:
    """``message`` without the names of columns the contract does not know (they may be values)."""

    def hide(m: re.Match[str]) -> str:
        names = [n for n in m.group(2).split(",") if n.strip()]
        return f"{m.group(1)} {len(names)} unknown column name(s), listed in the input's error report "

    return _UNKNOWN_COLUMNS.sub(hide, message)


def inputs_check_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        INPUTS_CHECK,
        asset=asset,
        description="Every input of the run was read and fits the contract. An input rejected whole "
        "(unreadable, columns that do not fit the contract, source unreachable) commits nothing and "
        "fails this check, which names the input and the reason.",
        blocking=False,
    )


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def inputs_check_result(
    asset: dg.AssetKey, input_errors: Sequence[Mapping[str, Any]], inputs_seen: int
) -> dg.AssetCheckResult:
    """The ``inputs_accepted`` result for a run that saw ``inputs_seen`` inputs and these errors."""
    rejected = [
        {
            "input": str(e.get("input") or e.get("source") or "?"),
            "reason": _short(redacted_error(str(e.get("error") or "unknown error"))),
            "retryable": bool(e.get("retryable")),
        }
        for e in input_errors
    ]
    description = (
        "; ".join(
            f"{r['input']}: {r['reason']}" + (" (source unavailable: retried)" if r["retryable"] else "")
            for r in rejected
        )
        if rejected
        else f"all {inputs_seen} input(s) accepted"
    )
    return dg.AssetCheckResult(
        check_name=INPUTS_CHECK,
        asset_key=asset,
        passed=not rejected,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description if len(description) <= 4 * REASON_CHARS else description[:1999] + "…",
        metadata={
            "inputs_rejected": len(rejected),
            "rejected": dg.MetadataValue.json(rejected),
        },
    )


def masked_rows(rows: Sequence[Mapping[str, Any]], contract: Contract) -> list[dict[str, Any]]:
    """``rows`` with every value of a column classified above ``internal`` replaced by a mask.

    Columns the contract does not name (the ingest's own ``_`` columns) are shown as they are;
    nulls stay empty, so a preview still shows which values are missing.
    """
    hidden = {c.name for c in contract.columns if c.classification not in SHOWN_CLASSES}
    hidden |= {c.source_name for c in contract.columns if c.source_name and c.name in hidden}
    return [{k: (MASK if k in hidden and v is not None else v) for k, v in row.items()} for row in rows]
