"""Publish one dataset to the analysts' DuckDB catalog: bronze, quarantine and its current state.

``current.<dataset>`` holds the latest version of every primary key (:mod:`contracts.current`),
derived from ``bronze.<dataset>``, so a plain analyst query never counts a re-delivered row twice.
"""

from __future__ import annotations

import os
from typing import Any

from contracts.current import current_state_sql
from contracts.model import Contract
from lake.catalog import publish_derived, publish_table
from lake.delta import Lake, table_facts

CURRENT_SCHEMA = "current"


def publish_dataset(
    catalog_path: str | os.PathLike[str], lake: Lake, contract: Contract, *, force: bool = False
) -> list[dict[str, Any]]:
    """Publish ``contract``'s lake tables that exist; return one entry per catalog table."""
    out = []
    opts = lake.options()
    for layer in ("bronze", "quarantine"):
        uri = lake.table_uri(layer, contract.name)
        if not table_facts(uri, storage_options=opts)["exists"]:
            continue
        entry = publish_table(catalog_path, layer, contract.name, uri, storage_options=opts, force=force)
        out.append({**entry, "layer": layer, "delta_uri": uri})
        sql = current_state_sql(contract, f'"bronze"."{contract.name}"') if layer == "bronze" else None
        if sql is not None:
            derived = publish_derived(
                catalog_path, CURRENT_SCHEMA, contract.name, sql, source=("bronze", contract.name),
                force=force,
            )
            out.append({**derived, "layer": CURRENT_SCHEMA, "delta_uri": uri})
    return out
