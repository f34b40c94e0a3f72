"""A read-only snapshot of the DuckDB analyst catalog: tables, columns and their Delta origins.

The catalog records, in ``_maestro.catalog_tables``, the Delta table (and version) each published
table was copied from (:mod:`lake.catalog`); lineage uses that to link ``bronze.orders`` in
DuckDB to the Delta table ``<lake>/bronze/orders`` (a ``symlinks`` facet).

DuckDB lets one process write a file while nobody else opens it, so take the snapshot when no
dbt run or publish holds the file (before or after the dbt build), or in the same process with
its open connection (:meth:`CatalogSnapshot.from_connection`). :meth:`CatalogSnapshot.try_read`
returns None instead of raising when the file is busy or absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.lineage.exceptions import LineageError
from provenance.lineage.sql_lineage import TableKey

__all__ = ["CatalogSnapshot"]

_COLUMNS_SQL = """
    select table_schema, table_name, column_name, data_type
    from information_schema.columns
    where table_catalog = current_database()
      and table_schema not in ('information_schema', 'pg_catalog')
    order by table_schema, table_name, ordinal_position
"""


@dataclass(frozen=True)
class CatalogSnapshot:
    """Columns of every catalog table and the Delta table each published one came from."""

    path: Path
    columns: dict[TableKey, dict[str, str]] = field(default_factory=dict)
    delta: dict[TableKey, tuple[str, int]] = field(default_factory=dict)
    rows: dict[TableKey, int] = field(default_factory=dict)

    @classmethod
    def from_connection(cls, con: Any, path: str | os.PathLike[str]) -> CatalogSnapshot:
        """Snapshot through an open DuckDB connection to the catalog at ``path``."""
        columns: dict[TableKey, dict[str, str]] = {}
        for schema, table, column, dtype in con.execute(_COLUMNS_SQL).fetchall():
            columns.setdefault(TableKey.of(schema, table), {})[column] = str(dtype)
        delta: dict[TableKey, tuple[str, int]] = {}
        rows: dict[TableKey, int] = {}
        if TableKey.of("_maestro", "catalog_tables") in columns:
            for schema, table, uri, version, count in con.execute(
                "select schema_name, table_name, delta_uri, delta_version, row_count "
                "from _maestro.catalog_tables"
            ).fetchall():
                delta[TableKey.of(schema, table)] = (str(uri), int(version))
                rows[TableKey.of(schema, table)] = int(count)
        return cls(Path(os.path.abspath(path)), columns, delta, rows)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CatalogSnapshot:
        """Open the catalog read-only and snapshot it; raises LineageError if it cannot."""
        import duckdb

        if not Path(path).is_file():
            raise LineageError(
                f"no DuckDB catalog at {path}; publish a table first or fix the path"
            )
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as err:
            raise LineageError(
                f"cannot open the DuckDB catalog {path} read-only ({err}); another process is "
                "writing it: snapshot it before or after the dbt run"
            ) from err
        try:
            return cls.from_connection(con, path)
        finally:
            con.close()

    @classmethod
    def try_read(cls, path: str | os.PathLike[str]) -> CatalogSnapshot | None:
        """Like :meth:`read`, but None when the catalog is absent or busy."""
        try:
            return cls.read(path)
        except LineageError:
            return None
