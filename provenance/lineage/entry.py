"""What an OpenLineage event becomes in the provenance ledger: value-free canonical JSON.

The ledger cannot forget, so nothing that could hold a row value (PII) may enter it. An entry is
the event rebuilt from an **allow-list**: the standard envelope (``eventType``, ``eventTime``,
``producer``, ``schemaURL``, ``run.runId``, ``job`` and dataset names) and only the facets known
to carry names, schemas, URIs, hashes, versions and counts. Everything else is dropped:

==============================  ===============================================================
dropped or reduced              why
==============================  ===============================================================
``errorMessage``                the message is replaced by ``redacted sha256:<hex of message>``
                                (match it against the logs) and the stack trace is dropped:
                                exception texts can quote values
``sql``, ``sourceCode``         query text can hold literals; ``sourceCodeLocation`` (path +
                                commit) identifies the code instead
``subset``                      partition/subset conditions hold values
``dataQualityMetrics``          only counts survive (``rowCount``, ``bytes``, ``fileCount``,
                                per column ``nullCount``, ``distinctCount``, ``count``); min,
                                max, sum and quantiles are values
``dataQualityAssertions``       only ``assertion``, ``success``, ``column``, ``severity``,
                                ``name``, ``description``; ``actual``/``expected``/``params``/
                                ``content`` can hold values
``columnLineage``               transformation descriptions (expressions with literals) dropped
``environmentVariables``,       can hold secrets or values
``executionParameters``,
``extractionError``
any facet not listed below      unknown facets of other producers: their content is unknown
unknown top-level keys          same
==============================  ===============================================================

Kept facets — run: ``parent``, ``nominalTime``, ``processing_engine``, ``errorMessage`` (reduced),
``jobDependencies``, ``externalQuery``, ``tags``; job: ``jobType``, ``sourceCodeLocation``,
``documentation``, ``ownership``, ``tags``; dataset: ``schema``, ``dataSource``,
``columnLineage`` (reduced), ``dataQualityAssertions`` (reduced), ``dataQualityMetrics``
(reduced), ``version``, ``symlinks``, ``storage``, ``lifecycleStateChange``, ``ownership``,
``documentation``, ``datasetType``, ``catalog``, ``hierarchy``, ``tags`` and every
``maestro_*`` facet (ours: names, hashes, versions, counts by construction); input facets:
``inputStatistics``, ``dataQualityMetrics`` (reduced), ``dataQualityAssertions`` (reduced);
output facets: ``outputStatistics``. URIs in ``dataSource`` lose credentials and secret query
parameters.

The entry is canonical JSON: UTF-8, keys sorted, no insignificant whitespace, no NaN (the same
bytes for the same event, so its leaf hash is reproducible). A reduced event still validates
against the OpenLineage schemas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from provenance.lineage.naming import safe_uri
from provenance.lineage.validate import event_dict

__all__ = ["canonical_json", "is_lineage_entry", "parse_entry", "redact_event", "to_ledger_entry"]

Reducer = Callable[[dict[str, Any]], dict[str, Any] | None]

_ASSERTION_KEYS = ("assertion", "success", "column", "severity", "name", "description")
_METRIC_KEYS = ("rowCount", "bytes", "fileCount", "lastUpdated")
_COLUMN_METRIC_KEYS = ("nullCount", "distinctCount", "count")
_BASE_KEYS = ("_producer", "_schemaURL", "_deleted")


def _keep(facet: dict[str, Any]) -> dict[str, Any]:
    return facet


def _base(facet: Mapping[str, Any]) -> dict[str, Any]:
    return {k: facet[k] for k in _BASE_KEYS if k in facet}


def _error(facet: dict[str, Any]) -> dict[str, Any]:
    message = str(facet.get("message", ""))
    digest = hashlib.sha256(message.encode("utf-8")).hexdigest()
    out = {
        **_base(facet),
        "message": f"redacted sha256:{digest}",
        "programmingLanguage": str(facet.get("programmingLanguage", "unknown")),
    }
    return out


def _assertions(facet: dict[str, Any]) -> dict[str, Any]:
    items = facet.get("assertions")
    kept = [
        {k: a[k] for k in _ASSERTION_KEYS if k in a}
        for a in (items if isinstance(items, list) else [])
        if isinstance(a, Mapping)
    ]
    return {**_base(facet), "assertions": kept}


def _metrics(facet: dict[str, Any]) -> dict[str, Any]:
    out = {**_base(facet), **{k: facet[k] for k in _METRIC_KEYS if k in facet}}
    columns = facet.get("columnMetrics")
    if isinstance(columns, Mapping):
        out["columnMetrics"] = {
            str(name): {k: m[k] for k in _COLUMN_METRIC_KEYS if k in m}
            for name, m in columns.items()
            if isinstance(m, Mapping)
        }
    return out


def _column_lineage(facet: dict[str, Any]) -> dict[str, Any]:
    def field_ref(f: Any) -> Any:
        if not isinstance(f, Mapping):
            return f
        out = {k: f[k] for k in ("namespace", "name", "field") if k in f}
        trans = f.get("transformations")
        if isinstance(trans, list):
            out["transformations"] = [
                {k: t[k] for k in ("type", "subtype", "masking") if k in t}
                for t in trans
                if isinstance(t, Mapping)
            ]
        return out

    fields = facet.get("fields")
    out = {**_base(facet)}
    if isinstance(fields, Mapping):
        out["fields"] = {
            str(col): {"inputFields": [field_ref(f) for f in (spec.get("inputFields") or [])]}
            for col, spec in fields.items()
            if isinstance(spec, Mapping)
        }
    else:
        out["fields"] = fields
    if isinstance(facet.get("dataset"), list):
        out["dataset"] = [field_ref(f) for f in facet["dataset"]]
    return out


def _data_source(facet: dict[str, Any]) -> dict[str, Any]:
    out = dict(facet)
    if isinstance(out.get("uri"), str):
        out["uri"] = safe_uri(out["uri"])
    return out


_RUN: dict[str, Reducer] = {
    "parent": _keep,
    "nominalTime": _keep,
    "processing_engine": _keep,
    "errorMessage": _error,
    "jobDependencies": _keep,
    "externalQuery": _keep,
    "tags": _keep,
}
_JOB: dict[str, Reducer] = {
    "jobType": _keep,
    "sourceCodeLocation": _keep,
    "documentation": _keep,
    "ownership": _keep,
    "tags": _keep,
}
_DATASET: dict[str, Reducer] = {
    "schema": _keep,
    "dataSource": _data_source,
    "columnLineage": _column_lineage,
    "dataQualityAssertions": _assertions,
    "dataQualityMetrics": _metrics,
    "version": _keep,
    "symlinks": _keep,
    "storage": _keep,
    "lifecycleStateChange": _keep,
    "ownership": _keep,
    "documentation": _keep,
    "datasetType": _keep,
    "catalog": _keep,
    "hierarchy": _keep,
    "tags": _keep,
}
_INPUT: dict[str, Reducer] = {
    "inputStatistics": _keep,
    "dataQualityMetrics": _metrics,
    "dataQualityAssertions": _assertions,
}
_OUTPUT: dict[str, Reducer] = {"outputStatistics": _keep}


def _facets(facets: Any, allowed: Mapping[str, Reducer], *, custom: bool = False) -> dict[str, Any]:
    if not isinstance(facets, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, facet in facets.items():
        if not isinstance(facet, dict):
            continue
        reducer = allowed.get(key)
        if reducer is None and custom and key.startswith("maestro_"):
            reducer = _keep
        if reducer is not None:
            reduced = reducer(facet)
            if reduced is not None:
                out[key] = reduced
    return out


def _dataset(ds: Any, extra_key: str, extra: Mapping[str, Reducer]) -> dict[str, Any] | None:
    if not isinstance(ds, Mapping):
        return None
    out: dict[str, Any] = {"namespace": ds.get("namespace"), "name": ds.get("name")}
    facets = _facets(ds.get("facets"), _DATASET, custom=True)
    if facets:
        out["facets"] = facets
    more = _facets(ds.get(extra_key), extra)
    if more:
        out[extra_key] = more
    return out


def redact_event(event: Any) -> dict[str, Any]:
    """The event reduced to the allow-listed, value-free content (see the module docstring)."""
    doc = event_dict(event)
    out: dict[str, Any] = {
        k: doc[k] for k in ("eventType", "eventTime", "producer", "schemaURL") if k in doc
    }
    run = doc.get("run")
    if isinstance(run, Mapping):
        out["run"] = {"runId": run.get("runId"), "facets": _facets(run.get("facets"), _RUN)}
    job = doc.get("job")
    if isinstance(job, Mapping):
        out["job"] = {
            "namespace": job.get("namespace"),
            "name": job.get("name"),
            "facets": _facets(job.get("facets"), _JOB),
        }
    for side, key, extra in (
        ("inputs", "inputFacets", _INPUT),
        ("outputs", "outputFacets", _OUTPUT),
    ):
        if isinstance(doc.get(side), list):
            out[side] = [d for d in (_dataset(x, key, extra) for x in doc[side]) if d is not None]
    if isinstance(doc.get("dataset"), Mapping):  # DatasetEvent
        out["dataset"] = _dataset(doc["dataset"], "", {})
    return out


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8; NaN and infinities are refused."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def to_ledger_entry(event: Any) -> bytes:
    """The ledger entry of an event: canonical JSON of :func:`redact_event`."""
    return canonical_json(redact_event(event))


def is_lineage_entry(doc: Any) -> bool:
    """True for an OpenLineage event (run, job or dataset event) as stored by this package."""
    if not isinstance(doc, Mapping):
        return False
    url = doc.get("schemaURL")
    return (
        isinstance(url, str)
        and "OpenLineage.json" in url
        and ("run" in doc or "job" in doc or "dataset" in doc)
    )


def parse_entry(data: bytes) -> dict[str, Any] | None:
    """The event in a ledger entry, or None if the entry is something else."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if is_lineage_entry(doc) else None
