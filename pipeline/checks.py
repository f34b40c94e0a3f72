"""Data checks generated from a contract, evaluated on the committed bronze table.

Each check has a name, a severity (``error`` blocks downstream assets; ``warn`` does not) and a
description derived from the contract, so the checks a user sees in the UI are exactly the
contract's rules. They re-verify the stored table (defence in depth: the enforcement already
routed failing rows to quarantine) and the run's row accounting.

The table checks cover **every row of the table**, exactly (no sampling). They are also the
every-row guarantee behind the Great Expectations validation of :mod:`quality`, which judges row
rules on a sample of the new rows and, for large inputs, the primary key on a key sample
(``quality/README.md``). They are written so DuckDB does as little as the answer needs:

- one query per rule, as a ``WHERE`` count: DuckDB skips the Parquet row groups whose min/max
  statistics (written with the data) prove no row can match, so a range rule the data keeps costs
  almost nothing, and only the columns a rule names are read;
- null counts the same way (``WHERE col IS NULL``), answered from the row groups' null counts;
- key uniqueness per input: one ``GROUP BY <key>`` per input, over the files that hold it, when the
  table holds at most :data:`PER_INPUT_KEY_QUERIES` inputs — an integer key with a dense range is
  then counted in a perfect (array) hash table — else one ``GROUP BY <key>, _manifest_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from contracts.enforce import bronze_schema
from contracts.model import Contract, temporal_bound
from lake.catalog import parquet_scan_sql
from lake.delta import open_table

Severity = Literal["error", "warn"]
# Up to this many inputs in the table, key uniqueness is grouped input by input (cheaper per row);
# beyond, one grouping over (key, input) avoids a scan per input.
PER_INPUT_KEY_QUERIES = 8
# DuckDB counts integer groups in an array instead of a hash table when the key's range (from the
# Parquet statistics) fits in this many bits: 2^22 slots, ~25 MB per 2M-wide range, about half the
# time of hashing. DuckDB's default is 12 bits.
PERFECT_HASH_BITS = 22


@dataclass(frozen=True)
class CheckSpec:
    name: str
    severity: Severity
    description: str


@dataclass
class CheckOutcome:
    name: str
    severity: Severity
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_specs(contract: Contract) -> list[CheckSpec]:
    """The checks a contract implies, in a stable order."""
    required = [c.name for c in contract.columns if not c.nullable]
    ruled = [c.name for c in contract.columns if _has_rules(c)]
    specs = [
        CheckSpec(
            "schema_matches_contract",
            "error",
            f"The Delta table's columns and types are those of contract {contract.name} "
            f"v{contract.version} plus the ingest metadata columns.",
        ),
        CheckSpec(
            "row_accounting",
            "error",
            "Every input row is in exactly one place: rows read = rows committed + rows "
            "quarantined + duplicates dropped, and the table holds every committed row.",
        ),
        CheckSpec(
            "required_columns_not_null",
            "error",
            f"No nulls in required columns: {', '.join(required) or '(none)'}.",
        ),
        CheckSpec(
            "constraints_hold",
            "error",
            f"Every stored row keeps the contract's range, set and pattern rules "
            f"({', '.join(ruled) or 'no ruled columns'}).",
        ),
    ]
    if contract.primary_key:
        specs.append(
            CheckSpec(
                "primary_key_unique_per_input",
                "error",
                f"({', '.join(contract.primary_key)}) is unique within each ingested input.",
            )
        )
    specs += [
        CheckSpec(
            "quarantine_rate",
            "warn",
            f"At most {1 - contract.completeness_min:.0%} of the rows read are quarantined "
            f"(contract completeness_min {contract.completeness_min}).",
        ),
        CheckSpec(
            "freshness",
            "warn",
            f"Newest row ingested within {contract.freshness.max_lag} (contract freshness SLO).",
        ),
    ]
    return specs


def _has_rules(col: Any) -> bool:
    c = col.constraints
    return any(v is not None for v in (c.min, c.max, c.allowed_values, c.pattern, c.min_length, c.max_length))


def _sql_literal(v: Any) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _bound_sql(col: Any, value: float) -> str:
    """A min/max bound as a DuckDB literal of the column's type. Date and timestamp bounds are
    numbers in the contract (days, resp. microseconds, since 1970-01-01 UTC), as enforcement reads
    them; the loader keeps them within years 0001-9999."""
    if col.type == "date":
        return f"date '{temporal_bound('date', value).isoformat()}'"
    if col.type == "timestamp":
        return f"timestamptz '{temporal_bound('timestamp', value).isoformat()}'"
    return repr(value)


def _violation_sql(contract: Contract) -> dict[str, str]:
    out: dict[str, str] = {}
    for col in contract.columns:
        c, q = col.constraints, f'"{col.name}"'
        if c.min is not None:
            out[f"min:{col.name}"] = f"{q} < {_bound_sql(col, c.min)}"
        if c.max is not None:
            out[f"max:{col.name}"] = f"{q} > {_bound_sql(col, c.max)}"
        if c.allowed_values is not None:
            values = ", ".join(_sql_literal(v) for v in c.allowed_values)
            out[f"allowed_values:{col.name}"] = f"cast({q} as varchar) not in ({values})"
        if c.pattern is not None:
            out[f"pattern:{col.name}"] = f"not regexp_matches({q}, {_sql_literal(c.pattern)})"
        if c.min_length is not None:
            out[f"min_length:{col.name}"] = f"length({q}) < {c.min_length}"
        if c.max_length is not None:
            out[f"max_length:{col.name}"] = f"length({q}) > {c.max_length}"
    return out


def evaluate_checks(
    contract: Contract,
    table_uri: str,
    *,
    run_counts: Mapping[str, int] | None = None,
    committed_total: int | None = None,
    storage_options: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[CheckOutcome]:
    """Evaluate :func:`check_specs` on the bronze table at ``table_uri``.

    Args:
        run_counts: this run's totals (``read``, ``valid``, ``rejected``, ``duplicates``).
        committed_total: rows committed to the table by all ingests ever (from the commit log).
    """
    import duckdb

    specs = {s.name: s for s in check_specs(contract)}
    dt = open_table(table_uri, storage_options=storage_options)
    outcomes: list[CheckOutcome] = []

    def add(name: str, passed: bool, **meta: Any) -> None:
        s = specs[name]
        outcomes.append(CheckOutcome(name, s.severity, bool(passed), s.description, meta))

    if dt is None:
        for name in specs:
            add(name, False, problem=f"no bronze table at {table_uri} yet")
        return outcomes
    con = duckdb.connect()
    try:
        files = dt.file_uris()
        paths = None
        if "://" not in table_uri and files:
            paths = [f.removeprefix("file://") for f in files]
            con.execute(f"create view t as select * from {parquet_scan_sql(paths)}")
        else:
            con.register("t", dt.to_pyarrow_dataset())
        expected = bronze_schema(contract)
        import pyarrow as pa

        actual = pa.schema(dt.schema().to_arrow())

        def norm(t: pa.DataType) -> str:
            return str(t).replace("large_string", "string").replace("string_view", "string")

        want = {f.name: norm(f.type) for f in expected}
        got = {f.name: norm(f.type) for f in actual}
        mismatched = {k: {"want": v, "got": got.get(k)} for k, v in want.items() if got.get(k) != v}
        extra = sorted(set(got) - set(want))
        add(
            "schema_matches_contract",
            not mismatched and not extra,
            mismatched=mismatched,
            extra_columns=extra,
        )

        rows = _one(con, "select count(*) from t")
        rc = dict(run_counts or {})
        run_ok = not rc or rc.get("read", 0) == rc.get("valid", 0) + rc.get("rejected", 0) + rc.get(
            "duplicates", 0
        )
        table_ok = committed_total is None or committed_total == rows
        add(
            "row_accounting", run_ok and table_ok, table_rows=rows, committed_by_ingests=committed_total, **rc
        )

        required = [c.name for c in contract.columns if not c.nullable]
        # A WHERE count per column, like the rules below: answered from the row groups' null counts.
        nulls = {c: _one(con, f'select count(*) from t where "{c}" is null') for c in required}
        add("required_columns_not_null", not any(nulls.values()), null_counts=nulls)

        # One WHERE count per rule: row groups whose statistics rule out a match are skipped.
        violations = {
            rule: _one(con, f"select count(*) from t where {sql}")
            for rule, sql in _violation_sql(contract).items()
        }
        add("constraints_hold", not any(violations.values()), violations=violations)

        if contract.primary_key:
            dupes = _duplicate_keys(con, contract.primary_key, paths)
            add("primary_key_unique_per_input", dupes == 0, duplicate_keys=dupes)

        read = rc.get("read", 0)
        rate = (rc.get("rejected", 0) / read) if read else 0.0
        add(
            "quarantine_rate",
            rate <= 1 - contract.completeness_min + 1e-12,
            quarantine_rate=round(rate, 4),
            allowed=round(1 - contract.completeness_min, 4),
        )

        newest = con.execute("select max(_ingested_at) from t").fetchone()[0]
        now = now or datetime.now(UTC)
        lag = (now - newest).total_seconds() if newest is not None else None
        max_lag = contract.freshness_max_lag.total_seconds()
        add(
            "freshness",
            lag is not None and lag <= max_lag,
            lag_seconds=None if lag is None else round(lag, 1),
            max_lag_seconds=max_lag,
        )
    finally:
        con.close()
    return outcomes


def _one(con: Any, sql: str, params: list[Any] | None = None) -> Any:
    return con.execute(sql, params or []).fetchone()[0]


def _duplicate_keys(con: Any, primary_key: list[str], paths: list[str] | None) -> int:
    """Keys that occur more than once within one input (``_manifest_id``), over the whole table.

    ``paths``: the table's Parquet files (local tables), so that each input's grouping reads only
    the files that hold it.
    """
    pk = ", ".join(f'"{k}"' for k in primary_key)
    inputs = con.execute(
        f"select distinct _manifest_id from t limit {PER_INPUT_KEY_QUERIES + 1}"
    ).fetchall()
    if len(inputs) > PER_INPUT_KEY_QUERIES:
        return int(_one(con, f"select count(*) from (select {pk}, _manifest_id from t group by all "
                             "having count(*) > 1)"))
    con.execute(f"set perfect_ht_threshold = {PERFECT_HASH_BITS}")
    dupes = "select count(*) from (select {pk} from {scan} group by all having count(*) > 1)"
    if len(inputs) <= 1:  # the whole table is one input
        return int(_one(con, dupes.format(pk=pk, scan="t")))
    files = _files_by_input(con, paths) if paths else None
    if files is not None:
        return sum(int(_one(con, dupes.format(pk=pk, scan=parquet_scan_sql(f)))) for f in files)
    by_input = dupes.format(pk=pk, scan="t where _manifest_id is not distinct from ?")
    return sum(int(_one(con, by_input, [m])) for (m,) in inputs)


def _files_by_input(con: Any, paths: list[str]) -> list[list[str]] | None:
    """The files of each input, when every file holds the rows of exactly one (as the ingest writes
    them); None otherwise. Exact: counted from the data, not from (possibly truncated) statistics."""
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    rows = con.execute(
        "select filename, count(distinct _manifest_id), any_value(_manifest_id), "
        f"count(*) - count(_manifest_id) from read_parquet([{quoted}], filename = true) group by all"
    ).fetchall()
    if any(n != 1 or nulls for _, n, _, nulls in rows):
        return None
    groups: dict[str, list[str]] = {}
    for name, _, manifest, _ in rows:
        groups.setdefault(manifest, []).append(name)
    return list(groups.values())


def committed_rows_by_ingests(
    quarantine_uri: str, *, storage_options: Mapping[str, str] | None = None
) -> int:
    """Sum of rows committed to bronze by every ingest, from the quarantine commits' counts."""
    import json

    dt = open_table(quarantine_uri, storage_options=storage_options)
    if dt is None:
        return 0
    total = 0
    for info in dt.history():
        raw = info.get("maestro.counts")
        if raw:
            counts = json.loads(raw) if isinstance(raw, str) else raw
            total += int(counts.get("valid", 0))
    return total
