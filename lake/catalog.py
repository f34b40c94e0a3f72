"""The analysts' DuckDB catalog: one database file where every lake table can be queried by name.

Each Delta table is published as a DuckDB table ``<layer>.<name>`` (``bronze.orders``,
``quarantine.orders``, ``metrics.cost`` ...) holding the Delta table's current version. Tables are
*materialised*, not views: the file is self-contained (open it anywhere with ``duckdb <file>``),
and a view over Delta files would go stale or break when the table is vacuumed. Publishing is
incremental: ``_maestro.catalog_tables`` records the Delta version each table was copied from,
and a table whose version has not moved is left alone.

DuckDB admits one writing process per file, so every write (publishing here, dbt runs in the
orchestration) happens under :func:`catalog_lock`, an exclusive ``flock`` on ``<file>.lock``;
writers queue instead of failing.

Local lakes are read with ``read_parquet`` over the Delta table's current file list (the fast
path); object-store lakes through the ``deltalake`` Arrow dataset.

>>> import tempfile, pyarrow as pa
>>> from lake.delta import Lake, append_idempotent
>>> lake = Lake(root=tempfile.mkdtemp())
>>> s = pa.schema([("x", pa.int64())])
>>> uri = lake.table_uri("bronze", "demo")
>>> _ = append_idempotent(uri, [pa.record_batch([pa.array([1, 2])], schema=s)], schema=s, app_id="a")
>>> db = tempfile.mkdtemp() + "/catalog.duckdb"
>>> publish_table(db, "bronze", "demo", uri)["rows"]
2
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lake.delta import open_table
from lake.exceptions import CatalogError

STATE_TABLE = "_maestro.catalog_tables"


@contextlib.contextmanager
def catalog_lock(catalog_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the catalog's writer lock (blocking) for the duration of the block."""
    path = Path(catalog_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _connect(catalog_path: str | os.PathLike[str], *, read_only: bool = False) -> Any:
    import duckdb

    return duckdb.connect(str(catalog_path), read_only=read_only)


def _ensure_state(con: Any) -> None:
    con.execute("create schema if not exists _maestro")
    con.execute(
        f"""create table if not exists {STATE_TABLE} (
            schema_name varchar, table_name varchar, delta_uri varchar, delta_version bigint,
            row_count bigint, refreshed_at timestamptz, primary key (schema_name, table_name))"""
    )


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def parquet_scan_sql(paths: list[str]) -> str:
    """``read_parquet([...])`` over literal paths (DDL statements cannot take parameters).

    Columns are matched by name: files written before an additive schema change (a new contract
    column, the quarantine's ``_raw``) lack the new columns, which then read as null, whichever
    file comes first.
    """
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], union_by_name = true)"


def publish_table(
    catalog_path: str | os.PathLike[str],
    schema: str,
    name: str,
    table_uri: str,
    *,
    storage_options: Mapping[str, str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Copy the current version of a Delta table into ``schema.name`` of the catalog.

    Returns ``{"table", "delta_version", "rows", "refreshed"}``; ``refreshed`` is False when the
    catalog already held this version.
    """
    dt = open_table(table_uri, storage_options=storage_options)
    if dt is None:
        raise CatalogError(f"cannot publish {schema}.{name}: no Delta table at {table_uri}")
    version = dt.version()
    qualified = f"{_quote(schema)}.{_quote(name)}"
    with catalog_lock(catalog_path):
        con = _connect(catalog_path)
        try:
            _ensure_state(con)
            row = con.execute(
                f"select delta_version, row_count, delta_uri from {STATE_TABLE} "
                "where schema_name = ? and table_name = ?",
                [schema, name],
            ).fetchone()
            if row and row[0] == version and row[2] == table_uri and not force:
                return {
                    "table": f"{schema}.{name}",
                    "delta_version": version,
                    "rows": row[1],
                    "refreshed": False,
                }
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute("begin transaction")
            files = dt.file_uris()
            if "://" not in table_uri and files:
                paths = [f.removeprefix("file://") for f in files]
                con.execute(f"create or replace table {qualified} as select * from {parquet_scan_sql(paths)}")
            else:
                dataset = dt.to_pyarrow_dataset()
                con.register("__delta_source", dataset)
                con.execute(f"create or replace table {qualified} as select * from __delta_source")
                con.unregister("__delta_source")
            rows = con.execute(f"select count(*) from {qualified}").fetchone()[0]
            con.execute(
                f"insert or replace into {STATE_TABLE} values (?, ?, ?, ?, ?, ?)",
                [schema, name, table_uri, version, rows, datetime.now(UTC)],
            )
            con.execute("commit")
        except Exception as err:
            with contextlib.suppress(Exception):
                con.execute("rollback")
            raise CatalogError(
                f"could not publish {table_uri} as {schema}.{name} in {catalog_path}: {err}"
            ) from err
        finally:
            con.close()
    return {"table": f"{schema}.{name}", "delta_version": version, "rows": int(rows), "refreshed": True}


def publish_derived(
    catalog_path: str | os.PathLike[str],
    schema: str,
    name: str,
    sql: str,
    *,
    source: tuple[str, str],
    force: bool = False,
) -> dict[str, Any]:
    """Materialise ``sql`` (over catalog tables) as ``schema.name``, derived from ``source``.

    The derived table records the Delta version its source table was published from, and is
    rebuilt only when that moved (or ``force``). Returns like :func:`publish_table`.
    """
    qualified = f"{_quote(schema)}.{_quote(name)}"
    with catalog_lock(catalog_path):
        con = _connect(catalog_path)
        try:
            _ensure_state(con)
            src = con.execute(
                f"select delta_version, delta_uri from {STATE_TABLE} "
                "where schema_name = ? and table_name = ?",
                list(source),
            ).fetchone()
            if src is None:
                raise CatalogError(f"{source[0]}.{source[1]} is not published yet")
            mine = con.execute(
                f"select delta_version, row_count, delta_uri from {STATE_TABLE} "
                "where schema_name = ? and table_name = ?",
                [schema, name],
            ).fetchone()
            if mine and mine[0] == src[0] and mine[2] == src[1] and not force:
                return {"table": f"{schema}.{name}", "delta_version": src[0], "rows": mine[1],
                        "refreshed": False}
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute("begin transaction")
            con.execute(f"create or replace table {qualified} as {sql}")
            rows = con.execute(f"select count(*) from {qualified}").fetchone()[0]
            con.execute(
                f"insert or replace into {STATE_TABLE} values (?, ?, ?, ?, ?, ?)",
                [schema, name, src[1], src[0], rows, datetime.now(UTC)],
            )
            con.execute("commit")
        except CatalogError:
            raise
        except Exception as err:
            with contextlib.suppress(Exception):
                con.execute("rollback")
            raise CatalogError(f"could not publish {schema}.{name} in {catalog_path}: {err}") from err
        finally:
            con.close()
    return {"table": f"{schema}.{name}", "delta_version": src[0], "rows": int(rows), "refreshed": True}


def catalog_tables(catalog_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every user-visible table and view in the catalog with its row count."""
    if not Path(catalog_path).exists():
        return []
    with catalog_lock(catalog_path):
        con = _connect(catalog_path, read_only=True)
        try:
            rel = con.execute(
                """select table_schema, table_name, table_type from information_schema.tables
                   where table_schema not in ('_maestro', 'information_schema', 'pg_catalog')
                   and table_catalog = current_database()
                   order by table_schema, table_name"""
            ).fetchall()
            out = []
            for schema, name, kind in rel:
                n = con.execute(f"select count(*) from {_quote(schema)}.{_quote(name)}").fetchone()[0]
                out.append({"table": f"{schema}.{name}", "type": kind.lower(), "rows": int(n)})
            return out
        finally:
            con.close()
