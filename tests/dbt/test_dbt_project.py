"""The dbt project builds its staging views and marts over a catalog holding the sample data.

The fixture lays out a DuckDB file as the platform publishes the analyst catalog (schemas
``bronze`` and ``quarantine``; bronze tables with the contract's columns and types plus the
metadata columns), loads the valid rows of ``data/samples`` (the lines ``expected.json`` lists as
quarantined or duplicate are left out) and adds later versions of two customers. Then
``dbt seed`` and ``dbt build`` run in-process against it, with target and log paths in tmp_path
so the repository stays clean. Expected numbers are computed here, independently, with polars
and Python decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from contracts.current import current_state_sql
from contracts.loader import load_contracts
from contracts.model import Contract

pytestmark = pytest.mark.slow

PAID = ("paid", "shipped", "delivered")
CENT = Decimal("0.01")
DUCKDB_TYPES = {
    "string": "varchar",
    "int64": "bigint",
    "int32": "integer",
    "float64": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
}
METADATA_COLUMNS = [
    "_manifest_id",
    "_source_uri",
    "cast(_source_row as bigint) as _source_row",
    "cast(_ingested_at as timestamptz) as _ingested_at",
    "_contract_version",
]
CUSTOMERS_INGESTED_AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
ORDER_FILES = {
    "orders/orders_2026-11-01.csv": datetime(2026, 11, 1, 23, 30, tzinfo=UTC),
    "orders/orders_2026-11-02.csv": datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
    "orders/orders_2026-11-03.csv": datetime(2026, 11, 3, 23, 30, tzinfo=UTC),
}


@dataclass(frozen=True)
class Built:
    """The catalog after ``dbt seed`` and ``dbt build``, and what went into it."""

    catalog: Path
    work: Path  # where dbt was told to write its target/ and logs/
    customers: pl.DataFrame  # every bronze version: contract columns as text, plus metadata
    orders: pl.DataFrame
    seed: dbtRunnerResult
    build: dbtRunnerResult
    moved_customer: str  # a later ingest changed its segment
    corrected_customer: str  # a same-time row further down its source changed its name
    orphans: list[str]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        # Not read_only: dbt-duckdb keeps its instance of this file open in this process, and
        # DuckDB refuses a second instance of the same file with a different configuration.
        with duckdb.connect(str(self.catalog)) as con:
            return con.execute(sql).fetchall()


def _valid_rows(samples: Path, expected: dict[str, Any], name: str) -> pl.DataFrame:
    """The rows of a sample file that reach bronze, numbered as the ingest numbers them."""
    outcome = expected["files"][name]
    dropped = [r["line"] for r in outcome["quarantined_rows"] + outcome["duplicate_rows"]]
    frame = pl.read_csv(samples / name, infer_schema=False, null_values=expected["null_values"])
    numbered = frame.with_row_index("_source_row", offset=1).with_columns(
        pl.col("_source_row").cast(pl.Int64)
    )
    # A row's line in the file is its 1-based row number plus the header line.
    return numbered.filter(~(pl.col("_source_row") + 1).is_in(dropped))


def _stamp(frame: pl.DataFrame, *, manifest: str, uri: str, at: datetime) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(manifest).alias("_manifest_id"),
        pl.lit(uri).alias("_source_uri"),
        pl.lit(at).alias("_ingested_at"),
        pl.lit("1.0.0").alias("_contract_version"),
    )


def _publish(con: duckdb.DuckDBPyConnection, contract: Contract, frame: pl.DataFrame) -> None:
    """Create the contract's bronze table from the all-text frame, typed as the contract says."""
    columns = [f"cast({c.name} as {DUCKDB_TYPES[c.type]}) as {c.name}" for c in contract.columns]
    con.register("incoming", frame.to_arrow())
    select = ", ".join(columns + METADATA_COLUMNS)
    con.execute(f"create table bronze.{contract.name} as select {select} from incoming")
    con.unregister("incoming")
    # The current state beside it, by the platform's one rule (pipeline/publish.py publishes it so).
    sql = current_state_sql(contract, f"bronze.{contract.name}")
    con.execute(f"create table current.{contract.name} as {sql}")


def _dbt(project: Path, work: Path, command: str) -> dbtRunnerResult:
    return dbtRunner().invoke(
        [
            command,
            "--project-dir", str(project),
            "--profiles-dir", str(project),
            "--target-path", str(work / "target"),
            "--log-path", str(work / "logs"),
            "--no-send-anonymous-usage-stats",
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("dbt")
    samples = repo_root / "data" / "samples"
    expected = json.loads((samples / "expected.json").read_text(encoding="utf-8"))

    def ingest(name: str, *, manifest: str, at: datetime) -> pl.DataFrame:
        rows = _valid_rows(samples, expected, name)
        return _stamp(rows, manifest=manifest, uri=(samples / name).as_uri(), at=at)

    customers = ingest("customers.csv", manifest="m-customers-1", at=CUSTOMERS_INGESTED_AT)
    first, second = customers.row(0, named=True), customers.row(1, named=True)
    # Ingested a day later, from row 1: the later ingest must win over the higher source row.
    moved = {**first, "segment": "enterprise" if first["segment"] != "enterprise" else "smb"}
    moved.update(_manifest_id="m-customers-2", _source_row=1)
    moved["_ingested_at"] = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    # Ingested at the same time, further down its source: the later source row must win.
    corrected = {**second, "full_name": "Corrected Name", "_manifest_id": "m-customers-fix"}
    corrected["_source_row"] = second["_source_row"] + 1000
    versions = pl.DataFrame([moved, corrected], schema=customers.schema)
    customers = pl.concat([customers, versions])
    orders = pl.concat(
        ingest(name, manifest=f"m-{name}", at=at) for name, at in ORDER_FILES.items()
    )

    contracts = load_contracts()
    catalog = work / "catalog.duckdb"
    with duckdb.connect(str(catalog)) as con:
        con.execute("create schema bronze")
        con.execute("create schema quarantine")
        con.execute("create schema current")
        _publish(con, contracts["customers"], customers)
        _publish(con, contracts["orders"], orders)

    project = repo_root / "dbt_project"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAESTRO_CATALOG_PATH", str(catalog))
        seed = _dbt(project, work, "seed")
        build = _dbt(project, work, "build")
    return Built(
        catalog=catalog,
        work=work,
        customers=customers,
        orders=orders,
        seed=seed,
        build=build,
        moved_customer=moved["customer_id"],
        corrected_customer=corrected["customer_id"],
        orphans=expected["orphan_customers"],
    )


def _latest(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """The documented rule by hand: latest version per key by _ingested_at, then _source_row."""
    return frame.sort(["_ingested_at", "_source_row"]).unique(subset=[key], keep="last")


@pytest.fixture(scope="module")
def current_orders(built: Built, repo_root: Path) -> list[dict[str, Any]]:
    """Current orders with their EUR amount as an invoice shows it (rounded half up to the cent)."""
    seed = repo_root / "dbt_project" / "seeds" / "fx_rates.csv"
    rates = pl.read_csv(seed, infer_schema=False).iter_rows(named=True)
    fx = {rate["currency"]: Decimal(rate["rate_to_eur"]) for rate in rates}
    return [
        {
            **row,
            "amount_eur": (Decimal(row["amount"]) * fx[row["currency"]]).quantize(
                CENT, ROUND_HALF_UP
            ),
            "is_paid": row["status"] in PAID,
        }
        for row in _latest(built.orders, "order_id").iter_rows(named=True)
    ]


def test_dbt_seed_and_build_succeed(built: Built) -> None:
    assert built.seed.success, built.seed.exception
    assert built.build.success, built.build.exception
    statuses = {r.node.name: str(r.status) for r in built.build.result}
    models = {"stg_bronze__customers", "stg_bronze__orders", "customer_revenue", "daily_revenue"}
    assert models <= set(statuses)
    assert set(statuses.values()) <= {"success", "pass", "warn"}, statuses


def test_orders_of_customers_missing_from_staging_are_a_warning_not_an_error(
    built: Built, current_orders: list[dict[str, Any]]
) -> None:
    [relationship] = [
        r
        for r in built.build.result
        if r.node.name.startswith("relationships_stg_bronze__orders_customer_id")
    ]
    orphan_orders = [row for row in current_orders if row["customer_id"] in built.orphans]
    assert str(relationship.status) == "warn"
    assert relationship.failures == len(orphan_orders) == 2


def test_models_land_in_their_schemas_as_views_and_tables(built: Built) -> None:
    rows = built.query(
        """
        select table_schema, table_name, table_type
        from information_schema.tables
        where table_schema in ('staging', 'marts', 'seeds')
        order by all
        """
    )
    assert rows == [
        ("marts", "customer_revenue", "BASE TABLE"),
        ("marts", "daily_revenue", "BASE TABLE"),
        ("seeds", "fx_rates", "BASE TABLE"),
        ("staging", "stg_bronze__customers", "VIEW"),
        ("staging", "stg_bronze__orders", "VIEW"),
    ]


def test_staging_customers_hold_one_row_per_key_and_the_latest_version_wins(built: Built) -> None:
    [(rows, keys)] = built.query(
        "select count(*), count(distinct customer_id) from staging.stg_bronze__customers"
    )
    assert rows == keys == built.customers["customer_id"].n_unique() == 200
    staged = {
        str(customer_id): (segment, name, manifest)
        for customer_id, segment, name, manifest in built.query(
            """
            select customer_id, segment, customer_name, manifest_id
            from staging.stg_bronze__customers
            """
        )
    }
    [moved] = built.customers.filter(pl.col("_manifest_id") == "m-customers-2").iter_rows(
        named=True
    )
    assert staged[built.moved_customer] == (moved["segment"], moved["full_name"], "m-customers-2")
    assert staged[built.corrected_customer][1:] == ("Corrected Name", "m-customers-fix")


def test_staging_orders_hold_one_row_per_key_with_the_latest_status(
    built: Built, current_orders: list[dict[str, Any]]
) -> None:
    staged = dict(built.query("select order_id, order_status from staging.stg_bronze__orders"))
    assert built.orders.height - len(current_orders) == 40  # two exports re-sent 20 orders each
    assert staged == {row["order_id"]: row["status"] for row in current_orders}


def test_daily_revenue_matches_the_orders_computed_by_hand(
    built: Built, current_orders: list[dict[str, Any]]
) -> None:
    want: dict[tuple[str, str], list[Any]] = {}
    for row in current_orders:
        day = want.setdefault((row["ordered_at"][:10], row["currency"]), [0, 0, 0, 0, 0])
        day[0] += 1
        day[1] += int(row["quantity"])
        if row["is_paid"]:
            day[2] += 1
            day[3] += Decimal(row["amount"])
            day[4] += row["amount_eur"]
    rows = built.query(
        """
        select ordered_on, currency_code,
            order_count, item_count, paid_order_count, revenue, revenue_eur
        from marts.daily_revenue
        """
    )
    got = {(ordered_on.isoformat(), currency): [*rest] for ordered_on, currency, *rest in rows}
    assert got == want
    assert len(got) == 9  # three days, three currencies


def test_customer_revenue_matches_the_orders_computed_by_hand(
    built: Built, current_orders: list[dict[str, Any]]
) -> None:
    customers = sorted(set(built.customers["customer_id"]))
    orders = [row for row in current_orders if row["customer_id"] in customers]
    [(rows, order_count, revenue_eur)] = built.query(
        "select count(*), sum(order_count), sum(revenue_eur) from marts.customer_revenue"
    )
    assert rows == len(customers)
    assert order_count == len(orders) == len(current_orders) - 2  # the two orphan orders
    assert revenue_eur == sum(row["amount_eur"] for row in orders if row["is_paid"])

    busiest = max(customers, key=lambda cid: sum(row["customer_id"] == cid for row in orders))
    times = sorted(row["ordered_at"] for row in orders if row["customer_id"] == busiest)
    [(first, last)] = built.query(
        f"""
        select
            strftime(first_ordered_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'),
            strftime(last_ordered_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ')
        from marts.customer_revenue
        where customer_id = {int(busiest)}
        """
    )
    assert (first, last) == (times[0], times[-1])


def test_dbt_writes_its_artifacts_and_logs_outside_the_repository(built: Built) -> None:
    for run in (built.seed, built.build):
        assert run.result.args["target_path"] == str(built.work / "target")
        assert run.result.args["log_path"] == str(built.work / "logs")
        assert run.result.args["send_anonymous_usage_stats"] is False  # so no .user.yml either
    assert (built.work / "target" / "manifest.json").is_file()
    assert (built.work / "logs" / "dbt.log").is_file()
