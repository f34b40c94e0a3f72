"""What a run of the main job really did, read from the lake, for the demo's summary.

A run's own metadata says what the run believed; when a step crashed half-way it says nothing for
that step, although inputs were committed before the crash. So the summary counts from the lake:
:func:`lake_versions` notes every bronze and quarantine table's Delta version before the run, and
:func:`new_commits` reads the commits made since, each carrying its input's manifest and counts
(``maestro.*`` commitInfo, written in the same atomic commit as the rows). "Nothing new" is said
only when no table has a new commit. Inputs rejected whole (they commit nothing) are named from the
run's ``input_errors`` metadata and its failed checks; a step that failed is named with its error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config.settings import Settings
from lake.delta import Lake, open_table, table_facts

__all__ = ["InputCommit", "lake_versions", "new_commits", "summarize"]

LAYERS = ("bronze", "quarantine")
INPUTS_SHOWN = 12


@dataclass
class InputCommit:
    """One input's commits since the snapshot: where it came from and the rows it added."""

    dataset: str
    app_id: str
    uri: str
    source: str
    bronze_rows: int = 0
    quarantine_rows: int = 0
    counts: dict[str, Any] | None = None
    """The input's row accounting (from its quarantine commit); None while that is missing."""

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1] or self.uri


def _lake(settings: Settings) -> Lake:
    return Lake(root=settings.lake_uri, storage_options=settings.lake_storage_options())


def lake_versions(settings: Settings, datasets: Iterable[str]) -> dict[tuple[str, str], int | None]:
    """The Delta version of each dataset's bronze and quarantine table now (None: no table)."""
    lake = _lake(settings)
    return {
        (layer, ds): table_facts(lake.table_uri(layer, ds), storage_options=lake.options())["version"]
        for ds in datasets
        for layer in LAYERS
    }


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def new_commits(settings: Settings, before: Mapping[tuple[str, str], int | None]) -> list[InputCommit]:
    """Every input committed to a bronze or quarantine table since ``before``, oldest first."""
    lake = _lake(settings)
    found: dict[tuple[str, str], InputCommit] = {}
    for (layer, ds), version in sorted(before.items()):
        dt = open_table(lake.table_uri(layer, ds), storage_options=lake.options())
        if dt is None or (version is not None and dt.version() <= version):
            continue
        since = -1 if version is None else version
        for info in sorted(dt.history(limit=dt.version() - since), key=lambda i: i["version"]):
            app_id = info.get("maestro.app_id")
            if info["version"] <= since or not app_id:
                continue
            manifest = _json(info.get("maestro.manifest")) or {}
            objects = (manifest.get("objects") if isinstance(manifest, dict) else None) or [{}]
            uri, source = str(objects[0].get("uri", app_id)), str(info.get("maestro.source", ""))
            entry = found.setdefault((ds, app_id), InputCommit(ds, app_id, uri, source))
            rows = int((info.get("operationMetrics") or {}).get("num_added_rows") or 0)
            if layer == "bronze":
                entry.bronze_rows += rows
            else:
                entry.quarantine_rows += rows
                counts = _json(info.get("maestro.counts"))
                entry.counts = counts if isinstance(counts, dict) else entry.counts
    return list(found.values())


def _materializations(result: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _checks(result: Any) -> list[tuple[str, str, bool, str, str]]:
    return [
        (e.asset_key.to_user_string(), e.check_name, e.passed, e.severity.value, e.description or "")
        for e in result.get_asset_check_evaluations()
    ]


def _step_failures(result: Any) -> list[tuple[str, str]]:
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # Dagster wraps the user's error
                error = error.cause
            out.append((event.step_key or "?", (error.message if error else "unknown error").strip()))
    return out


def _dataset_lines(settings: Settings, datasets: list[str], commits: list[InputCommit]) -> list[str]:
    from config.sources import load_sources

    lake = _lake(settings)
    kinds: dict[str, list[str]] = {}
    for spec in load_sources(settings):
        kinds.setdefault(spec.dataset, []).append(f"{spec.name} ({spec.kind})")
    lines = [
        f"{'dataset':<12}{'new':>5}{'read':>8}{'committed':>11}{'quarantined':>13}"
        f"{'duplicates':>12}{'table rows':>12}  source (kind)"
    ]
    for ds in datasets:
        mine = [c for c in commits if c.dataset == ds]
        read = sum(int((c.counts or {}).get("read", 0)) for c in mine)
        dups = sum(int((c.counts or {}).get("duplicates", 0)) for c in mine)
        rows = table_facts(lake.table_uri("bronze", ds), storage_options=lake.options())["rows"]
        lines.append(
            f"{ds:<12}{len(mine):>5}{read:>8}{sum(c.bronze_rows for c in mine):>11}"
            f"{sum(c.quarantine_rows for c in mine):>13}{dups:>12}{rows:>12}  {', '.join(kinds.get(ds, []))}"
        )
        for c in mine[:INPUTS_SHOWN]:
            state = "" if c.counts is not None else " (its quarantine commit is missing: re-run to finish it)"
            lines.append(
                f"    + {c.name}: {c.bronze_rows} committed, {c.quarantine_rows} quarantined{state}"
            )
        if len(mine) > INPUTS_SHOWN:
            lines.append(f"    ... and {len(mine) - INPUTS_SHOWN} more new inputs")
    return lines


def summarize(settings: Settings, result: Any, before: Mapping[tuple[str, str], int | None]) -> list[str]:
    """The summary lines of the tables, new inputs, rejections, failures and checks of ``result``."""
    datasets = sorted({ds for _, ds in before})
    commits = new_commits(settings, before)
    lines = _dataset_lines(settings, datasets, commits)
    lines.append("")
    mats = _materializations(result)
    for key, meta in sorted(mats.items()):
        if key.startswith("quarantine/") and meta.get("reasons"):
            reasons = ", ".join(f"{k}={v}" for k, v in meta["reasons"].items())
            lines.append(f"quarantined in {key.split('/', 1)[1]} (this run): {reasons}")
    for key, meta in sorted(mats.items()):
        errors = (meta.get("input_errors") or []) if key.startswith("bronze/") else []
        for e in errors:
            lines.append(f"input rejected whole ({key.split('/', 1)[1]}): {e['input']}: {e['error']}")
    for step, message in _step_failures(result):
        lines.append(f"step {step} FAILED: {message.splitlines()[0][:300] if message else ''}")
    new_rows = sum(c.bronze_rows for c in commits)
    if not commits:
        lines.append("Nothing new: every input was already committed; no rows were added.")
    else:
        quarantined = sum(c.quarantine_rows for c in commits)
        lines.append(
            f"Committed {new_rows} new rows from {len(commits)} new input(s) "
            f"({quarantined} rows quarantined), counted from the lake's new commits."
        )
    checks = _checks(result)
    failed = [c for c in checks if not c[2]]
    lines.append(
        f"Asset checks: {len(checks) - len(failed)} passed, {len(failed)} failed"
        + "".join(
            f"\n  {'WARN' if c[3] == 'WARN' else 'FAIL'} {c[0]}:{c[1]}" + (f" — {c[4][:300]}" if c[4] else "")
            for c in failed
        )
    )
    return lines
