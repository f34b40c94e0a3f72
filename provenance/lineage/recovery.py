"""Lake commits the ledger does not record yet, so the next run can record them.

A run that is killed (or fails) after its Delta commit and before its COMPLETE event leaves data
in the lake without its lineage. The next ingest run of the same dataset finds such commits and
records them in its own COMPLETE event, as ``recovered`` entries of the ``maestro_deltaTable``
facet (the commit's version and application id: the commit itself names its input's manifest).

How recorded commits are found without reading the whole ledger: every ingest COMPLETE event
states, per table, ``recordedThrough`` — a table version up to which every ingest commit is
recorded by that event or an earlier one. The search reads ledger entries backwards from the end,
collecting the commits that events of this job record, until each table's most recent
``recordedThrough`` is found; only Delta commits after it are candidates. An event written by a
run that is still going (a concurrent run of the same dataset) may later record a commit that
this run already recorded as recovered: a commit recorded twice is harmless, one never recorded
is what this closes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provenance.lineage.facets import DELTA_FACET
from provenance.lineage.naming import safe_uri

DEFAULT_MAX_SCAN = 100_000


@dataclass
class Recorded:
    """What the ledger records of one table: versions recorded and the newest watermark."""

    versions: set[int] = field(default_factory=set)
    through: int | None = None


def recorded_commits(
    ledger: Any,
    job_namespace_name: tuple[str, str],
    locations: list[str],
    *,
    max_scan: int | None,
    watermarks: bool = True,
) -> dict[str, Recorded]:
    """Per table location, the commit versions the job's recent events record (see module doc).

    With ``watermarks=False`` the whole ledger is read and every recorded version collected (the
    audit: :func:`missing_from_ledger`)."""
    out = {loc: Recorded() for loc in locations}
    pending = set(locations)
    size = ledger.size
    stop = 0 if max_scan is None else max(0, size - max_scan)
    for index in range(size - 1, stop - 1, -1):
        if not pending:
            break
        try:
            doc = json.loads(ledger.entry(index))
        except (ValueError, UnicodeDecodeError):
            continue  # not an event; the verifier reports damaged entries
        job = doc.get("job") or {}
        if (job.get("namespace"), job.get("name")) != job_namespace_name:
            continue
        for output in doc.get("outputs") or []:
            facet = (output.get("facets") or {}).get(DELTA_FACET) or {}
            loc = facet.get("location")
            if loc not in pending:
                continue
            rec = out[loc]
            rec.versions.update(int(c["version"]) for c in facet.get("commits") or [] if "version" in c)
            if watermarks and isinstance(facet.get("recordedThrough"), int):
                rec.through = facet["recordedThrough"]
                pending.discard(loc)
    return out


def unrecorded_commits(
    ledger: Any,
    job_namespace_name: tuple[str, str],
    tables: Mapping[str, str],
    *,
    storage_options: Mapping[str, str] | None = None,
    exclude: Mapping[str, set[int]] | None = None,
    max_scan: int | None = DEFAULT_MAX_SCAN,
) -> dict[str, dict[str, Any]]:
    """Per layer: the ingest commits the ledger does not record, and the new watermark.

    Args:
        ledger: an open :class:`provenance.ledger.Ledger` (read-only is enough).
        job_namespace_name: the ingest job's (namespace, name) as events carry it.
        tables: layer -> table URI (``bronze``, ``quarantine``).
        exclude: layer -> versions this run records itself.
        max_scan: how many entries to read back at most (None: the whole ledger).

    Returns ``{layer: {"commits": [{"version", "appId"}], "through": <table version>}}``.
    """
    from lake.delta import open_table
    from lake.retry import retrying

    locations = {layer: safe_uri(uri) for layer, uri in tables.items()}
    recorded = recorded_commits(ledger, job_namespace_name, list(locations.values()), max_scan=max_scan)
    out: dict[str, dict[str, Any]] = {}
    for layer, uri in tables.items():
        dt = open_table(uri, storage_options=storage_options)
        if dt is None:
            continue
        rec = recorded[locations[layer]]
        mine = (exclude or {}).get(layer, set())
        missing = []
        newer = None if rec.through is None else max(dt.version() - rec.through, 0)
        if newer == 0:
            out[layer] = {"commits": [], "through": dt.version()}
            continue
        for info in retrying(lambda d=dt, n=newer: d.history(limit=n), what=f"history of {uri}"):
            version = int(info.get("version", -1))
            app_id = info.get("maestro.app_id")
            if not app_id or version in rec.versions or version in mine:
                continue
            if rec.through is not None and version <= rec.through:
                continue
            missing.append({"version": version, "appId": app_id})
        out[layer] = {"commits": sorted(missing, key=lambda c: c["version"]), "through": dt.version()}
    return out


def recover_for_ingest(
    lineage_settings: Any,
    dataset: str,
    tables: Mapping[str, str],
    results: Any,
    *,
    storage_options: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`unrecorded_commits` for the ingest job of ``dataset``, excluding ``results``' own
    commits (the :class:`pipeline.ingest.IngestResult` list the event will record anyway)."""
    from provenance.lineage.naming import JOB_NAMESPACE, ingest_job_name

    own: dict[str, set[int]] = {layer: set() for layer in tables}
    for r in results:
        for layer, commit in (("bronze", r.bronze), ("quarantine", r.quarantine)):
            if commit is not None and layer in own:
                own[layer].add(int(commit.version))
    with lineage_settings.open_ledger(read_only=True) as ledger:
        return unrecorded_commits(
            ledger,
            (JOB_NAMESPACE, ingest_job_name(dataset)),
            tables,
            storage_options=storage_options,
            exclude=own,
        )


def missing_from_ledger(
    ledger: Any, dataset: str, tables: Mapping[str, str], *, storage_options: Mapping[str, str] | None = None
) -> dict[str, list[int]]:
    """The audit: per layer, ingest commit versions that no ingest event in the whole ledger records."""
    from lake.delta import open_table
    from provenance.lineage.naming import JOB_NAMESPACE, ingest_job_name

    locations = {layer: safe_uri(uri) for layer, uri in tables.items()}
    recorded = recorded_commits(
        ledger, (JOB_NAMESPACE, ingest_job_name(dataset)), list(locations.values()),
        max_scan=None, watermarks=False,
    )
    out: dict[str, list[int]] = {}
    for layer, uri in tables.items():
        dt = open_table(uri, storage_options=storage_options)
        versions = [] if dt is None else [
            int(info["version"]) for info in dt.history() if info.get("maestro.app_id")
        ]
        out[layer] = sorted(v for v in versions if v not in recorded[locations[layer]].versions)
    return out
