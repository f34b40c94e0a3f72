"""Storage types of contract columns and the schemas of a dataset's bronze and quarantine tables.

Contract: each contract type (``string``, ``int32``, ``int64``, ``float64``, ``boolean``, ``date``,
``timestamp``) has exactly one Arrow type (:data:`ARROW_TYPES`) it is stored as and one polars type
(:func:`typed_dtype`) it is parsed to; timestamps are microseconds in UTC. A bronze table holds the
contract columns, typed, in contract order, then :data:`BRONZE_METADATA`; a quarantine table holds
every contract column as the original text, then :data:`QUARANTINE_METADATA` (its last columns,
``_raw`` and ``_source_line``, came later: older tables get them on their next append). The lake writers,
quality checks and lineage events build or check tables from these, so changing them changes the
tables' schema.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from contracts.model import Column, Contract

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.large_string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}

# Metadata columns every bronze row carries: where it came from and under which contract.
BRONZE_METADATA = pa.schema(
    [
        ("_manifest_id", pa.large_string()),
        ("_source_uri", pa.large_string()),
        ("_source_row", pa.int64()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ("_contract_version", pa.large_string()),
    ]
)
QUARANTINE_METADATA = pa.schema(
    [
        ("_reasons", pa.large_list(pa.large_string())),
        ("_errors", pa.large_string()),
        ("_manifest_id", pa.large_string()),
        ("_source_uri", pa.large_string()),
        ("_source_sha256", pa.large_string()),
        ("_source_row", pa.int64()),
        ("_quarantined_at", pa.timestamp("us", tz="UTC")),
        ("_contract_version", pa.large_string()),
        # Added for rows a reader could not read (connectors/base.py): their original bytes, and
        # the physical line where a row starts when the reader knows it. Last and nullable, so the
        # additive schema merge of lake/delta.py adds them to older quarantine tables as they are.
        ("_raw", pa.large_binary()),
        ("_source_line", pa.int64()),
    ]
)

# Reserved columns of the reader contract (connectors/base.py): a row the reader could not read
# carries its reason code, original bytes and line. They never reach bronze.
READER_ERROR = "_maestro_error"
READER_RAW = "_maestro_raw"
READER_LINE = "_maestro_line"
READER_COLUMNS = (READER_ERROR, READER_RAW, READER_LINE)
# Batch schema metadata naming the null tokens a text reader kept verbatim (a JSON list).
NULL_VALUES_KEY = b"maestro.null_values"


def bronze_schema(contract: Contract) -> pa.Schema:
    """Arrow schema of a dataset's bronze table: contract columns, then metadata columns."""
    fields = [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in contract.columns]
    return pa.schema(fields + list(BRONZE_METADATA))


def quarantine_schema(contract: Contract) -> pa.Schema:
    """Arrow schema of a dataset's quarantine table: every contract column as original text."""
    fields = [pa.field(c.name, pa.large_string()) for c in contract.columns]
    return pa.schema(fields + list(QUARANTINE_METADATA))


def typed_dtype(col: Column) -> pl.DataType:
    """The polars type a contract column is parsed to."""
    return _POLARS_TYPES[col.type]
