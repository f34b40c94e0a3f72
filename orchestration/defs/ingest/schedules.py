"""Schedules for pull sources: each HTTP pull source runs its dataset's ingest on its own cron.

Runs of one source's job carry the tag ``maestro/pull_source=<name>``: the pull itself takes a
lock on the source's spool folder (one pull at a time per machine); where runs can start on several
machines, limit that tag to one run per value in the instance's run queue
(``tag_concurrency_limits`` with ``applyLimitPerUniqueValue``).
"""

import dagster as dg

from config.sources import SourceSpec
from orchestration.defs.ingest.assets import bronze_key, quarantine_key

DEFAULT_CRON = "*/15 * * * *"
PULL_SOURCE_TAG = "maestro/pull_source"


def build_pull_schedule(spec: SourceSpec) -> dg.ScheduleDefinition:
    """Materialize the dataset's ingest (and what depends on it) on ``spec``'s ``schedule``."""
    job = dg.define_asset_job(
        f"{spec.name}_pull",
        selection=dg.AssetSelection.assets(
            bronze_key(spec.dataset), quarantine_key(spec.dataset)
        ).downstream(),
        description=f"Pull {spec.dataset} from {spec.name} and refresh what depends on it.",
        tags={PULL_SOURCE_TAG: spec.name},
    )
    return dg.ScheduleDefinition(
        name=f"{spec.name}_schedule",
        job=job,
        cron_schedule=str(spec.options.get("schedule") or DEFAULT_CRON),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Incremental pull of {spec.dataset} ({spec.name}); the cursor is recorded in the "
        "same lake commit as the rows it covers.",
    )
