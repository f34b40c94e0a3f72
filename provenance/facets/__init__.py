"""JSON schemas of Maestro's custom OpenLineage facets, one file per facet.

Each file follows the layout of the official facet schemas (``../shared/openlineage-spec/facets``):
a ``$defs`` entry named after the facet that extends the core ``DatasetFacet`` (``allOf`` with a
``$ref`` to ``OpenLineage.json``), and a top-level ``properties`` entry keyed by the facet's name
in events. Every facet an event carries names its schema in ``_schemaURL``:
``https://maestro-conductor.dev/spec/facets/1-0-0/<File>.json#/$defs/<File>``. That URL is an
identifier, never fetched: validators map it to the file here (:func:`schema_path`).

Contract: a schema changes only by adding optional properties; anything else is a new version
directory in the URL (``1-1-0``) and a new file.

>>> schema_url("ContractVersionDatasetFacet")
'https://maestro-conductor.dev/spec/facets/1-0-0/ContractVersionDatasetFacet.json#/$defs/ContractVersionDatasetFacet'
>>> schema_path(schema_url("ContractVersionDatasetFacet")).name
'ContractVersionDatasetFacet.json'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FACETS_DIR", "SCHEMA_BASE_URL", "schema_files", "schema_path", "schema_url"]

FACETS_DIR = Path(__file__).resolve().parent
SCHEMA_BASE_URL = "https://maestro-conductor.dev/spec/facets/1-0-0/"


def schema_url(name: str) -> str:
    """The ``_schemaURL`` of facet ``name`` (the file name without ``.json``)."""
    return f"{SCHEMA_BASE_URL}{name}.json#/$defs/{name}"


def schema_path(url: str) -> Path | None:
    """The local schema file a Maestro ``_schemaURL`` names, or None if it names none of ours."""
    base = url.split("#", 1)[0]
    if not base.startswith(SCHEMA_BASE_URL):
        return None
    path = FACETS_DIR / base[len(SCHEMA_BASE_URL) :]
    return path if path.parent == FACETS_DIR and path.is_file() else None


def schema_files() -> list[Path]:
    """Every custom facet schema file, sorted by name."""
    return sorted(FACETS_DIR.glob("*.json"))
