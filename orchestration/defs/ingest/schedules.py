"""Schedules for pull sources: each HTTP pull source runs its dataset's ingest on its own cron."""

import dagster as dg

from config.sources import SourceSpec
from orchestration.defs.ingest.assets import bronze_key, quarantine_key

DEFAULT_CRON = "*/15 * * * *"


def build_pull_schedule(spec: SourceSpec) -> dg.ScheduleDefinition:
    """Materialize the dataset's ingest (and what depends on it) on ``spec``'s ``schedule``."""
    job = dg.define_asset_job(
        f"{spec.name}_pull",
        selection=dg.AssetSelection.assets(
            bronze_key(spec.dataset), quarantine_key(spec.dataset)
        ).downstream(),
        description=f"Pull {spec.dataset} from {spec.name} and refresh what depends on it.",
    )
    return dg.ScheduleDefinition(
        name=f"{spec.name}_schedule",
        job=job,
        cron_schedule=str(spec.options.get("schedule") or DEFAULT_CRON),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Incremental pull of {spec.dataset} ({spec.name}); the cursor advances only "
        "after the rows are committed.",
    )
