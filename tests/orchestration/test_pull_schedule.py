"""The HTTP pull schedule on the path users take: a tick requests the source's job, the job runs in
Dagster through the pipeline into the lake, and the next run resumes from the lake's cursor."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, build_schedule_context

from config.settings import Settings
from connectors.http_pull import Cursor
from connectors.http_pull.sample_api import create_app, touch_product
from orchestration.definitions import build_definitions
from orchestration.defs.ingest.schedules import PULL_SOURCE_TAG
from pipeline.kinds.pull_state import committed_cursor
from pipeline.run import lake_for
from sandbox.servers import serve_app
from tests.integration.pull_api import api_versions, bronze_versions

TOKEN = "schedule-test-token"
SOURCE = "catalogue_products_api"


@pytest.mark.slow
@pytest.mark.network
def test_a_schedule_tick_runs_the_pull_job_into_the_lake_and_the_next_run_resumes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        monkeypatch.setenv("MAESTRO_HOME", str(tmp_path / "maestro"))
        for var in ("MAESTRO_LAKE_URI", "MAESTRO_CATALOG_PATH", "MAESTRO_SOURCES"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("MAESTRO_SAMPLE_API_URL", url)
        monkeypatch.setenv("SAMPLE_API_TOKEN", TOKEN)
        settings = Settings.from_env()
        defs = build_definitions(settings)
        schedule = defs.resolve_schedule_def(f"{SOURCE}_schedule")
        job = defs.resolve_job_def(schedule.job_name)
        with DagsterInstance.ephemeral() as instance:
            [request] = schedule.evaluate_tick(build_schedule_context(instance=instance)).run_requests or []
            first = job.execute_in_process(instance=instance, tags=request.tags)
            assert first.success and first.dagster_run.tags[PULL_SOURCE_TAG] == SOURCE
            touch_product(app, 12)
            touch_product(app, 30)
            second = job.execute_in_process(instance=instance)
            assert second.success
    lake = lake_for(settings)
    assert bronze_versions(lake.table_uri("bronze", "products")) == api_versions(app)
    newest = max(app.state.products, key=lambda p: p["updated_at"])
    assert committed_cursor(lake, "products", SOURCE).cursor == Cursor(newest["updated_at"], "30")
