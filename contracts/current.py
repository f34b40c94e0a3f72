"""The current state of a dataset: the latest version of each primary key, generated from the contract.

Bronze is append-only and keeps every version of a key (one per input that carried it, with its
source pointer), so a corrected re-delivery adds rows rather than replacing them. Analysts and the
dbt staging models read the *current* state instead, which this module defines in one place:

- one row per primary key of the contract;
- the latest version wins: the row of the input ingested last (``_ingested_at``), and, for the
  ties that rule leaves open, the higher ``_source_row`` then the higher ``_manifest_id`` — a total
  order over bronze rows, so every engine and every rerun picks the same row.

Datasets without a primary key have no current state (every row is its own fact); bronze is it.

>>> from contracts.loader import load_contracts
>>> sql = current_state_sql(load_contracts()["orders"], '"bronze"."orders"')
>>> print(sql)  # doctest: +NORMALIZE_WHITESPACE
select * from "bronze"."orders"
qualify row_number() over (partition by "order_id"
    order by "_ingested_at" desc, "_source_row" desc, "_manifest_id" desc) = 1
"""

from __future__ import annotations

from contracts.model import Contract

LATEST_FIRST = (("_ingested_at", "desc"), ("_source_row", "desc"), ("_manifest_id", "desc"))
"""The order in which versions of one key are ranked, latest first (a total order)."""


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def current_state_sql(contract: Contract, relation: str) -> str | None:
    """DuckDB SQL selecting the current state from ``relation`` (bronze rows); None without a key."""
    if not contract.primary_key:
        return None
    keys = ", ".join(_quote(k) for k in contract.primary_key)
    order = ", ".join(f"{_quote(col)} {direction}" for col, direction in LATEST_FIRST)
    return (
        f"select * from {relation}\n"
        f"qualify row_number() over (partition by {keys}\n"
        f"    order by {order}) = 1"
    )
