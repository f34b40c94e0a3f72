"""What events say about a dataset: :class:`DatasetSpec` and the helpers that build common ones.

A :class:`DatasetSpec` is the neutral description every builder fills in (name, schema, column
lineage, statistics, version, symlinks, data source, documentation, assertions, custom facets);
:meth:`DatasetSpec.as_input` and :meth:`DatasetSpec.as_output` turn it into the OpenLineage
dataset with the standard facets. Only what is set becomes a facet. Specs carry names, types,
counts and versions — never row values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    datasource_dataset,
    documentation_dataset,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
    schema_dataset,
    symlinks_dataset,
)

from provenance.lineage.naming import DatasetRef, delta_table_dataset, duckdb_dataset

__all__ = [
    "Assertion",
    "ColumnInput",
    "DatasetSpec",
    "SchemaField",
    "catalog_table_spec",
    "delta_table_spec",
    "identity_lineage",
]


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ColumnInput:
    """One input column an output column is computed from."""

    dataset: DatasetRef
    field: str
    type: Literal["DIRECT", "INDIRECT"] = "DIRECT"
    subtype: str | None = None  # IDENTITY, TRANSFORMATION, AGGREGATION, FILTER ...


@dataclass(frozen=True)
class Assertion:
    """A data-quality check outcome (maps to one ``dataQualityAssertions`` entry)."""

    assertion: str
    success: bool
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    description: str | None = None


@dataclass
class DatasetSpec:
    """Everything an event says about one dataset; only ``ref`` is required.

    ``column_lineage`` maps each output column to the input columns it is computed from.
    ``extra_facets`` are added as they are (custom facets: they must have a schema).
    """

    ref: DatasetRef
    fields: Sequence[SchemaField] = ()
    column_lineage: Mapping[str, Sequence[ColumnInput]] | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    file_count: int | None = None
    version: str | None = None
    symlinks: Sequence[tuple[DatasetRef, str]] = ()
    data_source: tuple[str, str] | None = None
    description: str | None = None
    assertions: Sequence[Assertion] = ()
    extra_facets: Mapping[str, DatasetFacet] = field(default_factory=dict)

    def dataset_facets(self, producer: str) -> dict[str, DatasetFacet]:
        facets: dict[str, DatasetFacet] = {}
        if self.data_source is not None:
            facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(
                name=self.data_source[0], uri=self.data_source[1], producer=producer
            )
        if self.fields:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=f.name,
                        type=f.type,
                        description=f.description or None,
                        ordinal_position=i,
                        fields=None,
                    )
                    for i, f in enumerate(self.fields, start=1)
                ],
                producer=producer,
            )
        if self.column_lineage:
            facets["columnLineage"] = column_lineage_facet(self.column_lineage, producer=producer)
        if self.version is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(self.version), producer=producer
            )
        if self.symlinks:
            facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(namespace=r.namespace, name=r.name, type=kind)
                    for r, kind in self.symlinks
                ],
                producer=producer,
            )
        if self.description:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=self.description, producer=producer
            )
        if self.assertions:
            facets["dataQualityAssertions"] = assertions_facet(self.assertions, producer=producer)
        facets.update(self.extra_facets)
        return facets

    def as_input(self, producer: str) -> InputDataset:
        input_facets: dict[str, InputDatasetFacet] = {}
        if self.row_count is not None or self.size_bytes is not None:
            input_facets["inputStatistics"] = (
                input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=self.row_count,
                    size=self.size_bytes,
                    fileCount=self.file_count,
                    producer=producer,
                )
            )
        return InputDataset(
            namespace=self.ref.namespace,
            name=self.ref.name,
            facets=self.dataset_facets(producer),
            inputFacets=input_facets,
        )

    def as_output(self, producer: str) -> OutputDataset:
        output_facets: dict[str, OutputDatasetFacet] = {}
        if self.row_count is not None or self.size_bytes is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=self.row_count,
                    size=self.size_bytes,
                    fileCount=self.file_count,
                    producer=producer,
                )
            )
        return OutputDataset(
            namespace=self.ref.namespace,
            name=self.ref.name,
            facets=self.dataset_facets(producer),
            outputFacets=output_facets,
        )


def column_lineage_facet(
    lineage: Mapping[str, Sequence[ColumnInput]], *, producer: str
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    cl = column_lineage_dataset
    fields = {
        out: cl.Fields(
            inputFields=[
                cl.InputField(
                    namespace=c.dataset.namespace,
                    name=c.dataset.name,
                    field=c.field,
                    transformations=[cl.Transformation(type=c.type, subtype=c.subtype)],
                )
                for c in inputs
            ]
        )
        for out, inputs in lineage.items()
    }
    return cl.ColumnLineageDatasetFacet(fields=fields, dataset=None, producer=producer)


def assertions_facet(
    assertions: Sequence[Assertion], *, producer: str
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    dq = data_quality_assertions_dataset
    return dq.DataQualityAssertionsDatasetFacet(
        assertions=[
            dq.Assertion(
                assertion=a.assertion,
                success=a.success,
                column=a.column,
                severity=a.severity,
                name=a.name,
                description=a.description,
                params=None,
            )
            for a in assertions
        ],
        producer=producer,
    )


def identity_lineage(
    columns: Sequence[str] | Mapping[str, str], sources: Sequence[DatasetRef]
) -> dict[str, list[ColumnInput]]:
    """Column lineage of a copy: each output column from the same-named (or mapped) input column.

    ``columns`` is a list of names, or a mapping output column -> input column.
    """
    pairs = columns.items() if isinstance(columns, Mapping) else ((c, c) for c in columns)
    return {
        out: [ColumnInput(ref, src, "DIRECT", "IDENTITY") for ref in sources] for out, src in pairs
    }


def delta_table_spec(
    table_uri: str,
    *,
    storage_options: Mapping[str, str] | None = None,
    fields: Sequence[SchemaField] = (),
    read_facts: bool = True,
) -> DatasetSpec:
    """A Delta table as a dataset, with its current version (and schema, when given)."""
    spec = DatasetSpec(delta_table_dataset(table_uri), fields=fields)
    if read_facts:
        from lake.delta import table_facts

        facts = table_facts(table_uri, storage_options=storage_options)
        if facts.get("exists"):
            spec.version = str(facts["version"])
    return spec


def catalog_table_spec(
    catalog_path: str | Path,
    schema: str,
    table: str,
    *,
    delta_uri: str | None = None,
    delta_version: int | None = None,
    fields: Sequence[SchemaField] = (),
    row_count: int | None = None,
) -> DatasetSpec:
    """A DuckDB catalog table; a copy of a Delta table links to it (symlink + identity lineage).

    The symlink makes lineage queries treat the catalog copy and the Delta table as one dataset
    (see :mod:`provenance.lineage.query`).
    """
    spec = DatasetSpec(
        duckdb_dataset(catalog_path, schema, table), fields=fields, row_count=row_count
    )
    if delta_uri is not None:
        source = delta_table_dataset(delta_uri)
        spec.symlinks = [(source, "DELTA_TABLE")]
        if fields:
            spec.column_lineage = identity_lineage([f.name for f in fields], [source])
        if delta_version is not None:
            spec.version = str(delta_version)
    return spec


def derived_table_spec(
    catalog_path: str | Path,
    schema: str,
    table: str,
    *,
    columns: Sequence[str],
    from_delta_uri: str,
    delta_version: int | None = None,
    row_count: int | None = None,
) -> DatasetSpec:
    """A DuckDB catalog table *derived* from a Delta table (e.g. ``current.<ds>``, the latest
    version per key of bronze): not a copy, so no symlink; each column from the same-named column
    of the Delta table."""
    spec = catalog_table_spec(catalog_path, schema, table, row_count=row_count)
    spec.column_lineage = identity_lineage(list(columns), [delta_table_dataset(from_delta_uri)])
    if delta_version is not None:
        spec.version = str(delta_version)
    return spec
