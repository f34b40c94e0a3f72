"""The analysts' DuckDB catalog as an asset: current after every materialization.

Ingest assets publish their own tables as they commit; this asset, downstream of every table and
mart, re-publishes anything stale, then records what analysts can query and checks that every
published lake table holds exactly the Delta table's rows.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from contracts.model import Contract
from lake.catalog import catalog_tables
from lake.delta import table_facts
from orchestration.defs.lineage.emit import asset_lineage
from orchestration.resources import MaestroResource
from pipeline.publish import CURRENT_SCHEMA, publish_dataset
from pipeline.run import lake_for
from provenance.lineage import catalog_table_spec, delta_table_spec, derived_table_spec

CATALOG_KEY = dg.AssetKey(["catalog", "duckdb"])


def build_catalog_asset(
    contracts: Sequence[Contract], upstream: Sequence[dg.AssetKey]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=CATALOG_KEY,
        deps=list(upstream),
        group_name="catalog",
        kinds={"duckdb"},
        description="One DuckDB file where every bronze table, quarantine table, current state "
        "(latest version per key) and mart is queryable by name. Open it with "
        "`duckdb -readonly <path>`.",
        check_specs=[
            dg.AssetCheckSpec(
                "lake_tables_match_delta",
                asset=CATALOG_KEY,
                description="Every published lake table has the Delta table's row count.",
            )
        ],
    )
    def analyst_catalog(context: dg.AssetExecutionContext, maestro: MaestroResource) -> dg.MaterializeResult:
        settings = maestro.settings()
        lake = lake_for(settings)
        mismatches: list[dict[str, Any]] = []
        inputs, outputs = [], []
        with asset_lineage(settings, context, "catalog", source_path="lake/catalog.py") as lineage:
            for contract in contracts:
                ds = contract.name
                for published in publish_dataset(settings.catalog_path, lake, contract):
                    layer, uri = published["layer"], published["delta_uri"]
                    derived = layer == CURRENT_SCHEMA  # a subset of bronze, not a copy of it
                    if not derived:
                        facts = table_facts(uri, storage_options=lake.options())
                        if published["rows"] != facts["rows"]:
                            mismatches.append(
                                {"table": f"{layer}.{ds}", "delta": facts["rows"],
                                 "duckdb": published["rows"]}
                            )
                        inputs.append(delta_table_spec(uri, storage_options=lake.options()))
                    if derived:
                        outputs.append(
                            derived_table_spec(
                                settings.catalog_path, layer, ds, columns=contract.column_names,
                                from_delta_uri=uri, delta_version=published["delta_version"],
                                row_count=published["rows"],
                            )
                        )
                        continue
                    outputs.append(
                        catalog_table_spec(
                            settings.catalog_path,
                            layer,
                            ds,
                            delta_uri=uri,
                            delta_version=published["delta_version"],
                            row_count=published["rows"],
                        )
                    )
            tables = catalog_tables(settings.catalog_path)
            ledger_index = lineage.complete(inputs=inputs, outputs=outputs)
        md = "\n".join(
            ["| table | type | rows |", "|---|---|---|"]
            + [f"| {t['table']} | {t['type']} | {t['rows']} |" for t in tables]
        )
        context.log.info(f"catalog {settings.catalog_path}: {len(tables)} tables")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(settings.catalog_path)),
                "open_with": f"duckdb -readonly {settings.catalog_path}",
                "tables": dg.MetadataValue.md(md),
                "table_count": len(tables),
                "dagster/row_count": sum(t["rows"] for t in tables),
                "ledger_index": ledger_index,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="lake_tables_match_delta",
                    passed=not mismatches,
                    metadata={"mismatches": dg.MetadataValue.json(mismatches)},
                )
            ],
        )

    return analyst_catalog
