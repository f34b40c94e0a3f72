"""A run killed or failed after its lake commit: the next run records the commit in the ledger."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance

import faults
from config.settings import Settings
from orchestration.definitions import build_definitions
from pipeline.run import lake_for
from provenance.lineage import LineageSettings
from provenance.lineage.recovery import missing_from_ledger

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    sources = home / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [
        {"name": "crm_csv", "kind": "csv", "dataset": "customers", "paths": [str(tmp_path / "in" / "*.csv")],
         "options": {"null_values": ["", "NA"]}},
    ]}))
    monkeypatch.setenv("MAESTRO_HOME", str(home))
    monkeypatch.setenv("MAESTRO_SOURCES", str(sources))
    for var in ("MAESTRO_LAKE_URI", "MAESTRO_CATALOG_PATH"):
        monkeypatch.delenv(var, raising=False)
    return Settings.from_env()


def _ingest(settings: Settings, instance: DagsterInstance) -> bool:
    job = build_definitions(settings).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[AssetKey(["bronze", "customers"]), AssetKey(["quarantine", "customers"])],
        raise_on_error=False,
    )
    return result.success


def test_a_commit_whose_run_failed_before_recording_it_is_recorded_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, monkeypatch)
    (tmp_path / "in").mkdir()
    export = tmp_path / "in" / "customers.csv"
    shutil.copy(SAMPLES / "customers.csv", export)
    lake = lake_for(settings)
    tables = {layer: lake.table_uri(layer, "customers") for layer in ("bronze", "quarantine")}
    ls = LineageSettings.from_settings(settings)
    with DagsterInstance.ephemeral() as instance:
        # The input is committed whole (bronze and quarantine), then the run fails.
        monkeypatch.setenv("MAESTRO_FAULTS", "ingest.after_quarantine_commit=raise")
        faults.reset()
        assert not _ingest(settings, instance)
        monkeypatch.delenv("MAESTRO_FAULTS")
        with ls.open_ledger(read_only=True) as ledger:
            lost = missing_from_ledger(ledger, "customers", tables)
        assert lost["bronze"] and lost["quarantine"], "the failed run's commits are not in the ledger yet"
        # Nothing will touch that input again (as for an S3 object or a pull past its cursor):
        # the next run of the dataset must record the commit all the same.
        export.unlink()

        assert _ingest(settings, instance)
        with ls.open_ledger(read_only=True) as ledger:
            assert missing_from_ledger(ledger, "customers", tables) == {"bronze": [], "quarantine": []}
            assert ledger.verify().ok
        # A third run has nothing to recover and records nothing twice.
        assert _ingest(settings, instance)
