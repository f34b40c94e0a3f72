"""Maestro's custom OpenLineage dataset facets, as openlineage-python facet classes.

Each class serialises (``Serde.to_dict``) to the JSON its schema in ``provenance/facets/``
describes, with ``_schemaURL`` naming that schema. Keys in events follow the spec's rule for
custom facets (a producer prefix): ``maestro_contractVersion``, ``maestro_sourceManifest``,
``maestro_deltaTable``. All three carry names, versions, URIs, hashes and counts — never row
values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attr
from openlineage.client.generated.base import DatasetFacet

from provenance.facets import schema_url

__all__ = [
    "CONTRACT_FACET",
    "DELTA_FACET",
    "MANIFEST_FACET",
    "ContractVersionDatasetFacet",
    "DeltaTableVersionDatasetFacet",
    "SourceManifestDatasetFacet",
    "contract_facet",
]

CONTRACT_FACET = "maestro_contractVersion"
MANIFEST_FACET = "maestro_sourceManifest"
DELTA_FACET = "maestro_deltaTable"


@attr.define
class ContractVersionDatasetFacet(DatasetFacet):
    """The data contract a dataset was written under."""

    name: str
    version: str
    sha256: str
    owner: str | None = attr.field(default=None)
    evolution: str | None = attr.field(default=None)
    primaryKey: list[str] | None = attr.field(factory=list)  # noqa: N815
    piiColumns: list[str] | None = attr.field(factory=list)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return schema_url("ContractVersionDatasetFacet")


@attr.define
class SourceManifestDatasetFacet(DatasetFacet):
    """The source manifests (input URIs and sha256 digests) a run wrote into a dataset.

    ``manifests`` entries: ``{"id", "source", "kind", "status", "createdAt", "objects": [{"uri",
    "sha256", "size", "etag", "versionId"}]}``.
    """

    manifests: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return schema_url("SourceManifestDatasetFacet")


@attr.define
class DeltaTableVersionDatasetFacet(DatasetFacet):
    """A Delta table's version after a run and the commits the run made to it."""

    location: str
    version: int
    numFiles: int | None = attr.field(default=None)  # noqa: N815
    sizeBytes: int | None = attr.field(default=None)  # noqa: N815
    numRows: int | None = attr.field(default=None)  # noqa: N815
    commits: list[dict[str, Any]] | None = attr.field(factory=list)
    recordedThrough: int | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return schema_url("DeltaTableVersionDatasetFacet")


def contract_sha256(contract: Any) -> str:
    """sha256 of a contract's canonical JSON (sorted keys, no whitespace)."""
    doc = contract.model_dump(mode="json")
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def contract_facet(contract: Any, *, producer: str) -> ContractVersionDatasetFacet:
    """The contract facet of a :class:`contracts.model.Contract`."""
    return ContractVersionDatasetFacet(
        name=contract.name,
        version=contract.version,
        sha256=contract_sha256(contract),
        owner=contract.owner,
        evolution=contract.evolution,
        primaryKey=list(contract.primary_key),
        piiColumns=list(contract.pii_columns()),
        producer=producer,
    )
