"""Composition root: builds the Dagster definitions from contracts, sources and the dbt project.

No business logic here: each domain under ``defs/`` builds its own definitions from configuration,
and this module merges them and applies the cross-cutting choices (executor, resources, jobs).
"""

from __future__ import annotations

import dagster as dg

from config.settings import Settings
from config.sources import load_sources
from contracts.loader import load_contracts
from orchestration.defs.catalog.assets import build_catalog_asset
from orchestration.defs.dbt.assets import build_dbt_assets, dbt_resource
from orchestration.defs.ingest.assets import bronze_key, build_ingest_asset, quarantine_key
from orchestration.defs.ingest.schedules import build_pull_schedule
from orchestration.defs.ingest.sensors import build_drop_sensor, build_push_sensor, build_s3_sensor
from orchestration.defs.lineage.assets import build_checkpoint_asset
from orchestration.defs.metrics.assets import build_metric_assets
from orchestration.defs.recovery.sensors import build_retry_sweeper
from orchestration.resources import MaestroResource

MAIN_JOB = "main"


def build_definitions(settings: Settings, *, maestro: MaestroResource | None = None) -> dg.Definitions:
    """All assets, checks, sensors and jobs for ``settings``' contracts and sources."""
    contracts = load_contracts(settings.contracts_dir)
    sources = load_sources(settings, datasets=set(contracts))
    assets: list[dg.AssetsDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    fed = sorted({s.dataset for s in sources})
    for ds in fed:
        assets.append(build_ingest_asset(contracts[ds], [s for s in sources if s.dataset == ds]))
    for spec in sources:
        if spec.kind == "file_drop":
            sensors.append(build_drop_sensor(spec))
        elif spec.kind == "http_push":
            sensors.append(build_push_sensor(spec))
        elif spec.kind == "s3":
            sensors.append(build_s3_sensor(spec))
        elif spec.kind == "http_pull":
            schedules.append(build_pull_schedule(spec))
    sensors.append(build_retry_sweeper())
    dbt = build_dbt_assets(settings)
    assets.append(dbt)
    upstream = [k for ds in fed for k in (bronze_key(ds), quarantine_key(ds))] + list(dbt.keys)
    assets.append(build_catalog_asset([contracts[ds] for ds in fed], upstream))
    assets += build_metric_assets({ds: contracts[ds] for ds in fed})
    everything = [k for a in assets for k in a.keys]
    assets.append(build_checkpoint_asset(everything))
    main = dg.define_asset_job(
        MAIN_JOB,
        selection=dg.AssetSelection.all(),
        description="Ingest every source, build the dbt marts, refresh the catalog.",
    )
    return dg.Definitions(
        assets=assets,
        sensors=sensors,
        schedules=schedules,
        jobs=[main],
        resources={"maestro": maestro or MaestroResource(), "dbt": dbt_resource()},
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location Dagster loads (code servers, and the run workers they start)."""
    from orchestration.home import private_umask

    # Cross-cutting, once per process: whatever this code location writes is private to its user.
    private_umask()
    return build_definitions(Settings.from_env())
