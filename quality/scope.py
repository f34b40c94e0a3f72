"""Which rows of a bronze table a validation reads, and reading them into pandas for GX.

A *scope* is a set of the table's data files: every file (``full``), or the files added by the
commits after ``since_version`` (``new_files`` and ``sample``). The added files are the difference
between the file sets of the current version and of ``since_version``, taken from the Delta log
alone (no data is read), so a validation's cost follows the size of the new data, not the table.
Bronze is append-only, so "added" means "written by those ingests"; after an ``OPTIMIZE`` the
rewritten files count as new once.

Rows are read with DuckDB: local tables straight from Parquet, object-store tables through the
Delta table's pyarrow dataset (restricted to the scope's files). A *sample* is deterministic and
content-addressed: a row is in it when ``hash(_manifest_id, _source_row) % k == 0``, with ``k``
chosen so that about ``sample_rows`` rows are picked. The same row is picked by every run, whatever
the file layout or thread count, and the pick does not depend on the row's values. A *key sample*
hashes ``(<key columns>, _manifest_id)`` instead: it picks about one key in ``k`` with every row that
carries it in that input, so duplicates of a picked key are always in it together.

Frames get the pandas dtypes :data:`quality.compile.PANDAS_TYPES` names: numpy integers and
booleans for required columns (GX's range check is vectorised only for those), pandas nullable
``Int32``/``Int64``/``boolean`` for nullable ones, dates as ``datetime64``, timestamps tz-aware,
strings as the pandas string dtype; ``_manifest_id`` is categorical (per-input uniqueness is
checked on it, and comparing dictionary codes is much cheaper than hashing the strings).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from contracts.model import Contract
from quality.exceptions import BronzeTableMissingError

MANIFEST_COLUMN = "_manifest_id"


@dataclass
class Scope:
    """The files of one validation and what the Delta log says about them."""

    table_uri: str
    version: int
    since_version: int | None
    """Commits after this version are in scope; None for the whole table."""
    files: list[str] = field(default_factory=list)
    """Absolute file URIs (plain paths for local tables)."""
    paths: list[str] = field(default_factory=list)
    """The same files as paths relative to the table root, as the Delta log has them."""
    rows: int = 0
    """Rows in the scope's files, from the log's per-file record counts (-1: not in the log, yet
    to be counted by :func:`read_rows`)."""

    def describe(self) -> dict[str, Any]:
        first = None if self.since_version is None else self.since_version + 1
        return {"table_uri": self.table_uri, "table_version": self.version,
                "since_version": self.since_version,
                "versions": None if first is None else [first, self.version],
                "files": len(self.files), "rows_in_scope": self.rows}


def open_bronze(table_uri: str, storage_options: Mapping[str, str] | None) -> DeltaTable:
    try:
        return DeltaTable(table_uri, storage_options=dict(storage_options or {}) or None)
    except Exception as err:  # TableNotFoundError, or a store error naming the URI
        raise BronzeTableMissingError(
            f"no Delta table at {table_uri} ({err}); ingest the dataset before validating it"
        ) from err


def _files(dt: DeltaTable) -> dict[str, int | None]:
    """Relative path -> record count (None when the log has no statistics) of ``dt``'s files."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return {}
    counts = actions.column("num_records").to_pylist()
    return dict(zip(actions.column("path").to_pylist(), counts, strict=True))


def select_scope(dt: DeltaTable, table_uri: str, *, since_version: int | None,
                 storage_options: Mapping[str, str] | None) -> Scope:
    """The files of ``dt`` added after ``since_version`` (all files when it is None)."""
    version = dt.version()
    current = _files(dt)
    if since_version is None:
        chosen = current
    elif since_version >= version:
        chosen = {}
    elif since_version < 0:
        chosen = current
    else:
        try:
            old = DeltaTable(table_uri, version=since_version,
                             storage_options=dict(storage_options or {}) or None)
        except Exception as err:
            raise BronzeTableMissingError(
                f"{table_uri}: cannot load version {since_version} to find the files added since "
                f"({err}); its log may have been cleaned up — validate with mode='full'"
            ) from err
        before = set(_files(old))
        chosen = {p: n for p, n in current.items() if p not in before}
    root = table_uri.removeprefix("file://").rstrip("/")
    paths = [unquote(p) for p in sorted(chosen)]
    counts = list(chosen.values())
    rows = -1 if None in counts else sum(n or 0 for n in counts)
    return Scope(table_uri, version, since_version, [f"{root}/{p}" for p in paths], paths, rows)


def _connect(dt: DeltaTable, scope: Scope) -> Any:
    """A DuckDB connection with view ``t`` over the scope's files."""
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    if "://" not in scope.table_uri or scope.table_uri.startswith("file://"):
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in scope.files)
        con.execute(f"create view t as select * from read_parquet([{quoted}], union_by_name = true)")
    else:
        import pyarrow.dataset as pds

        full = dt.to_pyarrow_dataset()
        wanted = set(scope.paths)
        # Fragment paths are relative to the table root (deltalake 1.x); accept absolute ones too.
        frags = [f for f in full.get_fragments()
                 if f.path in wanted or any(f.path.endswith("/" + p) for p in wanted)]
        if len(frags) != len(wanted):
            con.close()
            raise BronzeTableMissingError(
                f"{scope.table_uri}: found {len(frags)} of the {len(wanted)} data files the log "
                "lists for this validation; the table may be changing under it — retry"
            )
        con.register("t", pds.FileSystemDataset(frags, full.schema, full.format, full.filesystem))
    return con


def _empty(schema: pa.Schema, columns: Sequence[str]) -> pa.Table:
    return pa.table({c: pa.array([], type=schema.field(c).type) for c in columns})


def read_rows(dt: DeltaTable, scope: Scope, *, sample_rows: int | None,
              columns: Sequence[str] | None = None,
              sample_by: Sequence[str] = (MANIFEST_COLUMN, "_source_row")) -> tuple[pa.Table, int]:
    """Rows of ``scope`` (all, or a deterministic sample of about ``sample_rows``) and the stride.

    Returns (table, k): every row when ``k == 1``, else about one row in ``k``: the rows with
    ``hash(<sample_by>) % k == 0``. The default picks rows by their identity (input, row number);
    ``sample_by=(<key columns>, _manifest_id)`` picks whole key groups of an input instead, so all
    rows sharing a key within an input are in the sample together or not at all (a *key sample*:
    a duplicated key is then caught whenever it is picked).
    """
    schema = pa.schema(dt.schema().to_arrow())
    cols = list(columns) if columns is not None else schema.names
    if not scope.files:
        return _empty(schema, [c for c in cols if c in schema.names]), 1
    con = _connect(dt, scope)
    try:
        if scope.rows < 0:  # files written without statistics: count them
            scope.rows = int(con.sql("select count(*) from t").fetchone()[0])  # type: ignore[index]
        k = 1 if not sample_rows or scope.rows <= sample_rows else math.ceil(scope.rows / sample_rows)
        present = set(con.sql("select * from t limit 0").columns)
        select = ", ".join(f'"{c}"' for c in cols if c in present)
        by = ", ".join(f'"{c}"' for c in sample_by)
        where = f" where hash({by}) % {k} = 0" if k > 1 else ""
        table = con.sql(f"select {select} from t{where}").to_arrow_table()
    finally:
        con.close()
    if k == 1 and table.num_rows != scope.rows:
        # Never validate fewer rows than the log says were committed and call it a pass.
        raise BronzeTableMissingError(
            f"{scope.table_uri}: read {table.num_rows} rows but the Delta log lists {scope.rows} "
            f"in the {len(scope.files)} files of this validation; retry, or validate mode='full'"
        )
    return table, k


def to_frame(table: pa.Table, contract: Contract) -> pd.DataFrame:
    """Arrow rows -> the pandas frame GX validates (dtypes: see the module docstring)."""
    nullable = {c.name for c in contract.columns if c.nullable}
    masked = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name == MANIFEST_COLUMN:  # dictionary-encoded by Arrow: 5-10x faster than pandas
            columns[name] = pc.dictionary_encode(col).to_pandas()
            continue
        # A required integer column holding nulls is left as float64: its type check then fails,
        # as does its not-null check, which is the truth about such a table.
        mapper = masked.get if (name in nullable and col.type in masked) else None
        series = col.to_pandas(types_mapper=mapper, date_as_object=False)
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            # GX compares datetimes with bounds vectorised only at nanosecond resolution. Values
            # outside 1677-2262 (sentinels like 9999-12-31) keep their resolution; a range rule
            # on such a column then reports an error instead of a count.
            with contextlib.suppress(pd.errors.OutOfBoundsDatetime, OverflowError):
                series = series.astype("datetime64[ns, UTC]" if getattr(col.type, "tz", None)
                                       else "datetime64[ns]")
        columns[name] = series
    return pd.DataFrame(columns, copy=False)
