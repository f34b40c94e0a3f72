"""The whole main job with the lake (and so the ledger) on S3: one setting, no code change."""

from __future__ import annotations

import duckdb
import pytest
from dagster import DagsterInstance

from config.settings import Settings
from contracts.loader import load_contracts
from lake.delta import table_facts
from orchestration.definitions import MAIN_JOB, build_definitions
from orchestration.demo import seed_drop_folders
from pipeline.run import lake_for
from provenance.lineage import LineageSettings
from sandbox.environment import demo_environment

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_the_main_job_runs_on_an_s3_lake_with_its_ledger_beside_it(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MAESTRO_HOME", str(tmp_path / "home"))
    for var in ("MAESTRO_LAKE_URI", "MAESTRO_CATALOG_PATH", "MAESTRO_SOURCES"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    seed_drop_folders(settings)
    with demo_environment(settings, sorted(load_contracts()), lake_bucket="maestro-lake"):
        monkeypatch.setenv("MAESTRO_LAKE_URI", "s3://maestro-lake/lake")
        s3_settings = Settings.from_env()
        defs = build_definitions(s3_settings)
        with DagsterInstance.ephemeral() as instance:
            result = defs.resolve_job_def(MAIN_JOB).execute_in_process(instance=instance)
        assert result.success

        lake = lake_for(s3_settings)
        con = duckdb.connect(str(s3_settings.catalog_path), read_only=True)
        try:
            for ds in ("customers", "orders", "payments", "products", "shipments"):
                uri = lake.table_uri("bronze", ds)
                assert uri.startswith("s3://maestro-lake/lake/")
                rows = table_facts(uri, storage_options=lake.options())["rows"]
                assert rows > 0
                assert con.execute(f"select count(*) from bronze.{ds}").fetchone()[0] == rows
        finally:
            con.close()

        ls = LineageSettings.from_settings(s3_settings)
        assert str(ls.ledger_dir) == "s3://maestro-lake/lake/_ledger"
        with ls.open_ledger(read_only=True) as ledger:
            assert ledger.size > 20
            assert ledger.verify().ok
