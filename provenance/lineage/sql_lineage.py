"""Column lineage of one SQL query, derived with sqlglot (dialect duckdb by default).

:func:`query_lineage` qualifies the query against the known table schemas (so ``select *`` is
expanded), lists its output columns, and traces each one through CTEs and subqueries
(``sqlglot.lineage``) to the base-table columns it is computed from. Each input column gets a
transformation in OpenLineage's terms:

- ``DIRECT`` / ``IDENTITY``: the value is copied (possibly renamed) all the way;
- ``DIRECT`` / ``AGGREGATION``: an aggregate on the way (``sum``, ``count`` ...);
- ``DIRECT`` / ``TRANSFORMATION``: any other expression (casts, arithmetic, functions);
- ``INDIRECT`` / ``FILTER`` or ``CONDITION``: the column only decides which rows an aggregate
  takes (``filter (where ...)``) or which branch of a ``case`` applies.

Contract: never raises on SQL it cannot trace; columns it cannot resolve simply have no inputs,
and ``complete`` is False when a ``*`` could not be expanded (unknown upstream schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ColumnSource", "QueryLineage", "TableKey", "query_lineage"]

_RANK = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}


@dataclass(frozen=True, order=True)
class TableKey:
    """A table by schema and name (lower case, as DuckDB folds unquoted names)."""

    schema: str
    name: str

    @classmethod
    def of(cls, schema: str, name: str) -> TableKey:
        return cls(schema.lower(), name.lower())


@dataclass(frozen=True)
class ColumnSource:
    table: TableKey
    column: str
    type: str  # DIRECT or INDIRECT
    subtype: str


@dataclass
class QueryLineage:
    columns: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, list[ColumnSource]] = field(default_factory=dict)
    complete: bool = True
    error: str | None = None


def _sqlglot_schema(
    tables: Mapping[TableKey, Mapping[str, str | None]], database: str
) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    out: dict[str, dict[str, dict[str, dict[str, str]]]] = {database: {}}
    for key, cols in tables.items():
        out[database].setdefault(key.schema, {})[key.name] = {
            c.lower(): (t or "unknown") for c, t in cols.items()
        }
    return out


def _column_name(node_name: str) -> str:
    import sqlglot
    from sqlglot import exp

    try:
        parsed = sqlglot.parse_one(node_name, into=exp.Column)
        return parsed.name
    except Exception:  # a name sqlglot produced but cannot re-read: take the last part
        return node_name.rsplit(".", 1)[-1].strip('"')


def _link_kind(parent_expr: object, child_column: str) -> tuple[str, str] | None:
    """INDIRECT kind if ``child_column`` is used in ``parent_expr`` only as a filter/condition."""
    from sqlglot import exp

    if not isinstance(parent_expr, exp.Expression):
        return None
    uses = [c for c in parent_expr.find_all(exp.Column) if c.name == child_column]
    if not uses:
        return None
    kinds = set()
    for use in uses:
        where = use.find_ancestor(exp.Where)
        cond = next((a for a in _ancestors(use) if isinstance(a, exp.If)), None)
        if where is not None:
            kinds.add("FILTER")
        elif cond is not None and _within(use, cond.this):
            kinds.add("CONDITION")
        else:
            return None
    return "INDIRECT", sorted(kinds)[0]


def _ancestors(node: object) -> list[object]:
    out = []
    parent = getattr(node, "parent", None)
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out


def _within(node: object, root: object) -> bool:
    return node is root or root in _ancestors(node)


def _path_subtype(exprs: list[object]) -> str:
    from sqlglot import exp

    subtype = "IDENTITY"
    for e in exprs:
        inner = e.this if isinstance(e, exp.Alias) else e
        if isinstance(inner, exp.Column | exp.Table) or inner is None:
            continue
        if isinstance(inner, exp.Expression) and (
            isinstance(inner, exp.AggFunc) or inner.find(exp.AggFunc) is not None
        ):
            return "AGGREGATION"
        subtype = "TRANSFORMATION"
    return subtype


def query_lineage(
    sql: str,
    tables: Mapping[TableKey, Mapping[str, str | None]],
    *,
    database: str,
    dialect: str = "duckdb",
) -> QueryLineage:
    """Output columns of ``sql`` and the base-table columns each is computed from.

    Args:
        sql: one SELECT (a compiled dbt model).
        tables: known table schemas (column -> type or None) by schema and name.
        database: the catalog name the SQL qualifies tables with (dbt's ``database``).
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    result = QueryLineage()
    schema = _sqlglot_schema(tables, database)
    try:
        query = qualify(
            sqlglot.parse_one(sql, dialect=dialect),
            schema=schema,
            dialect=dialect,
            validate_qualify_columns=False,
        )
    except Exception as err:  # unparseable SQL: no column lineage, said so
        result.complete, result.error = False, f"{type(err).__name__}: {err}"
        return result
    selects = query.selects
    result.complete = not any(isinstance(s, exp.Star) or s.find(exp.Star) for s in selects)
    result.columns = [s.alias_or_name for s in selects if not isinstance(s, exp.Star)]
    try:
        typed = annotate_types(query.copy(), schema=schema, dialect=dialect)
        for s in typed.selects:
            if s.type is not None and not s.type.is_type(exp.DataType.Type.UNKNOWN):
                result.types[s.alias_or_name] = s.type.sql(dialect)
    except Exception:  # types are optional; the catalog or manifest may supply them
        pass
    scope = build_scope(query)
    for column in result.columns:
        try:
            root = lineage(column, query, schema=schema, dialect=dialect, scope=scope)
        except Exception:  # untraceable column: no inputs
            result.lineage[column] = []
            continue
        found: dict[tuple[TableKey, str], ColumnSource] = {}
        stack: list[tuple[object, list[object], tuple[str, str] | None]] = [(root, [], None)]
        while stack:
            node, path, indirect = stack.pop()
            expr = node.expression
            if not node.downstream:
                if isinstance(expr, exp.Table) and expr.name:
                    key = TableKey.of(expr.db or "", expr.name)
                    col = _column_name(node.name)
                    kind, sub = indirect or ("DIRECT", _path_subtype(path))
                    src = ColumnSource(key, col, kind, sub)
                    old = found.get((key, col))
                    if old is None or _better(src, old):
                        found[(key, col)] = src
                continue
            for child in node.downstream:
                link = indirect or _link_kind(expr, _column_name(child.name))
                stack.append((child, [*path, expr], link))
        result.lineage[column] = sorted(found.values(), key=lambda s: (s.table, s.column))
    return result


def _better(new: ColumnSource, old: ColumnSource) -> bool:
    if new.type != old.type:
        return new.type == "DIRECT"
    return _RANK.get(new.subtype, 0) > _RANK.get(old.subtype, 0)
