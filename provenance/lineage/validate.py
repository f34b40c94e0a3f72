"""Validate OpenLineage events against the official JSON schemas, every facet against its own.

The event is validated against ``OpenLineage.json`` (the core: RunEvent, DatasetEvent or
JobEvent). The core only checks that facets are facets (``_producer``, ``_schemaURL``); so each
facet is then validated against its own schema:

- a standard facet (a key the spec defines at that place: ``schema`` on a dataset,
  ``parent`` on a run ...) against its file in ``<spec_dir>/facets/``;
- a Maestro facet (``_schemaURL`` under ``https://maestro-conductor.dev/spec/facets/``) against
  its file in ``provenance/facets/``;
- any other custom facet only against the core (its schema is the producer's, not ours); the
  report lists it under ``unchecked``.

All ``$ref``s resolve locally through a ``referencing`` registry; nothing is fetched. When the
spec folder is absent, the vendored core schema (``spec/OpenLineage.json``) is used and standard
facets are only checked against the core (``mode == "core-only"``). Formats (``uuid``,
``date-time``, ``uri``) are checked.

>>> validator = EventValidator.for_spec_dir(None)   # doctest: +SKIP
>>> validator.check({"eventType": "START", ...})    # raises EventInvalidError   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import best_match

from provenance.facets import SCHEMA_BASE_URL, schema_files
from provenance.lineage.exceptions import EventInvalidError, LineageConfigError
from provenance.lineage.settings import DEFAULT_SPEC_DIR

__all__ = ["EventValidator", "ValidationReport", "event_dict", "validate_event"]

VENDORED_CORE = Path(__file__).resolve().parent / "spec" / "OpenLineage.json"
_CORE_BASES = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "dataset",
    "InputDatasetFacet": "input",
    "OutputDatasetFacet": "output",
}
# Where a facet found at one place may also come from: DataQualityAssertions extends
# InputDatasetFacet but is commonly carried as a dataset facet.
_FALLBACK = {"dataset": ("input", "output"), "input": ("dataset",), "output": ("dataset",)}
_MAX_ERRORS = 20


@dataclass
class ValidationReport:
    """Outcome of validating one event."""

    ok: bool = True
    errors: list[str] = field(default_factory=list)
    checked: dict[str, str] = field(default_factory=dict)  # facet path -> schema $id
    unchecked: list[str] = field(default_factory=list)
    mode: str = "full"

    def raise_if_invalid(self) -> None:
        if not self.ok:
            raise EventInvalidError(
                "OpenLineage event is invalid: "
                + "; ".join(self.errors[:5])
                + (f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""),
                errors=self.errors,
            )


def event_dict(event: Any) -> dict[str, Any]:
    """A RunEvent (or any openlineage-python event) as the JSON object it serialises to."""
    if isinstance(event, Mapping):
        return dict(event)
    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(event))


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker()

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(uuid.UUID(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None or "t" not in value.lower():
            raise ValueError(f"{value!r} is not an RFC 3339 date-time with a time zone")
        return True

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if isinstance(value, str) and not urlsplit(value).scheme:
            raise ValueError(f"{value!r} is not an absolute URI")
        return True

    return checker


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


class EventValidator:
    """Validates event dicts; build once (:meth:`for_spec_dir` caches) and reuse."""

    def __init__(self, spec_dir: Path | None) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        folder = Path(spec_dir) if spec_dir is not None else None
        core_path = folder / "OpenLineage.json" if folder is not None else None
        if core_path is not None and core_path.is_file():
            self.mode = "full"
        else:
            core_path, self.mode = VENDORED_CORE, "core-only"
        self.spec_dir = folder if self.mode == "full" else None
        core = _load(core_path)
        docs: list[dict[str, Any]] = [core]
        if self.spec_dir is not None:
            docs += [_load(p) for p in sorted((self.spec_dir / "facets").glob("*.json"))]
        customs = [_load(p) for p in schema_files()]
        resources = [
            (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012))
            for d in docs + customs
        ]
        core_id = core["$id"]

        def retrieve(uri: str) -> Resource:
            # Facet files name the core by its versioned URL; any version maps to our copy.
            if uri.startswith("https://openlineage.io/spec/") and uri.endswith("/OpenLineage.json"):
                return Resource.from_contents(core, default_specification=DRAFT202012)
            raise LookupError(f"schema {uri} is not available locally (nothing is fetched)")

        self._registry = Registry(retrieve=retrieve).with_resources(resources)  # type: ignore[call-arg]
        checker = _format_checker()

        def make(schema: Mapping[str, Any]) -> Any:
            return Draft202012Validator(schema, registry=self._registry, format_checker=checker)

        self._core = make({"$ref": core_id})
        # The core is oneOf the three event kinds; errors against the intended kind say where.
        self._kinds = {
            k: make({"$ref": f"{core_id}#/$defs/{k}"})
            for k in ("RunEvent", "DatasetEvent", "JobEvent")
        }
        # Standard facets by (place, key) -> (validator of {key: facet}, schema id).
        self._standard: dict[tuple[str, str], tuple[Any, str]] = {}
        for doc in docs[1:]:
            validator = make({"$ref": doc["$id"]})
            for key, prop in doc.get("properties", {}).items():
                for place in _places(doc, prop):
                    self._standard[(place, key)] = (validator, doc["$id"])
        self._custom = {d["$id"]: make({"$ref": d["$id"]}) for d in customs}

    @classmethod
    def for_spec_dir(cls, spec_dir: Path | None = DEFAULT_SPEC_DIR) -> EventValidator:
        """A cached validator for ``spec_dir`` (None: the vendored core only)."""
        return _cached(str(spec_dir) if spec_dir is not None else None)

    def validate(self, event: Any) -> ValidationReport:
        """Validate an event (dict or openlineage-python object); never raises on bad input."""
        doc = event_dict(event)
        report = ValidationReport(mode=self.mode)
        core_errors = list(self._core.iter_errors(doc))
        if core_errors:
            kind = _kind_of(doc)
            specific = sorted(
                self._kinds[kind].iter_errors(doc), key=lambda e: list(e.absolute_path)
            )
            for err in specific[:_MAX_ERRORS] or [best_match(core_errors)]:
                report.errors.append(f"{_path(err.absolute_path)}: {_message(err)}")
        if isinstance(doc, dict):
            for path, place, key, facet in _facets(doc):
                self._check_facet(report, path, place, key, facet)
        report.ok = not report.errors
        return report

    def check(self, event: Any) -> ValidationReport:
        """Validate and raise :class:`EventInvalidError` when invalid."""
        report = self.validate(event)
        report.raise_if_invalid()
        return report

    def _check_facet(
        self, report: ValidationReport, path: str, place: str, key: str, facet: Any
    ) -> None:
        url = facet.get("_schemaURL", "") if isinstance(facet, dict) else ""
        if isinstance(url, str) and url.startswith(SCHEMA_BASE_URL):
            validator = self._custom.get(url.split("#", 1)[0])
            if validator is None:
                report.errors.append(f"{path}: _schemaURL {url} names no Maestro facet schema")
                return
            schema_id = url.split("#", 1)[0]
        else:
            found = self._standard.get((place, key))
            for alt in _FALLBACK.get(place, ()):
                found = found or self._standard.get((alt, key))
            if found is None:
                report.unchecked.append(path)
                return
            validator, schema_id = found
        errors = sorted(validator.iter_errors({key: facet}), key=lambda e: list(e.absolute_path))
        for err in errors[:_MAX_ERRORS]:
            sub = _path(list(err.absolute_path)[1:]).removeprefix("$")
            report.errors.append(f"{path}{sub}: {_message(err)} (schema {schema_id})")
        if not errors:
            report.checked[path] = schema_id


@functools.cache
def _cached(spec_dir: str | None) -> EventValidator:
    return EventValidator(Path(spec_dir) if spec_dir is not None else None)


def validate_event(event: Any, *, spec_dir: Path | None = DEFAULT_SPEC_DIR) -> ValidationReport:
    """Validate one event with the (cached) validator of ``spec_dir``."""
    return EventValidator.for_spec_dir(spec_dir).validate(event)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LineageConfigError(f"cannot read JSON schema {path}: {err}") from err
    if not isinstance(doc, dict) or "$id" not in doc:
        raise LineageConfigError(f"JSON schema {path} has no $id; is it an OpenLineage schema?")
    return doc


def _places(doc: Mapping[str, Any], schema: Any, depth: int = 0) -> set[str]:
    """Where a facet schema may appear (run, job, dataset, input, output), from its bases."""
    if not isinstance(schema, Mapping) or depth > 8:
        return set()
    ref = schema.get("$ref", "")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _places(doc, doc.get("$defs", {}).get(ref.rsplit("/", 1)[-1]), depth + 1)
    out = set()
    for part in schema.get("allOf", []):
        base = part.get("$ref", "") if isinstance(part, Mapping) else ""
        if "OpenLineage.json" in base and base.rsplit("/", 1)[-1] in _CORE_BASES:
            out.add(_CORE_BASES[base.rsplit("/", 1)[-1]])
    for combinator in ("oneOf", "anyOf"):
        for part in schema.get(combinator, []):
            out |= _places(doc, part, depth + 1)
    return out


def _kind_of(doc: Any) -> str:
    if isinstance(doc, Mapping) and "dataset" in doc and "run" not in doc:
        return "DatasetEvent"
    if isinstance(doc, Mapping) and "run" not in doc and "eventType" not in doc and "job" in doc:
        return "JobEvent"
    return "RunEvent"


def _message(err: Any) -> str:
    text = str(err.message)
    return text if len(text) <= 300 else text[:297] + "..."


def _facets(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """Every facet in an event: (json path, place, key, facet)."""

    def each(container: Any, path: str, place: str) -> Iterator[tuple[str, str, str, Any]]:
        if isinstance(container, Mapping):
            for key, facet in container.items():
                yield f"{path}.{key}", place, key, facet

    run, job = doc.get("run"), doc.get("job")
    if isinstance(run, Mapping):
        yield from each(run.get("facets"), "$.run.facets", "run")
    if isinstance(job, Mapping):
        yield from each(job.get("facets"), "$.job.facets", "job")
    for side in ("inputs", "outputs"):
        items = doc.get(side)
        if not isinstance(items, list):
            continue
        for i, ds in enumerate(items):
            if not isinstance(ds, Mapping):
                continue
            yield from each(ds.get("facets"), f"$.{side}[{i}].facets", "dataset")
            extra = "inputFacets" if side == "inputs" else "outputFacets"
            yield from each(ds.get(extra), f"$.{side}[{i}].{extra}", side[:-1])
    dataset = doc.get("dataset")
    if isinstance(dataset, Mapping):
        yield from each(dataset.get("facets"), "$.dataset.facets", "dataset")
