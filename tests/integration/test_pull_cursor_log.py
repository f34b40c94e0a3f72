"""The committed cursor lives in the Delta log, which expires: re-recorded before it can, answered
by the confirmed cache after it did, and never guessed when neither can answer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.sources import load_sources
from connectors.factory import build_source
from connectors.http_pull import Cursor, CursorStateError, CursorStore, read_spool
from connectors.http_pull.sample_api import create_app, touch_product
from contracts.enforce import bronze_schema
from contracts.loader import load_contracts
from lake.delta import append_idempotent
from pipeline import ingest
from pipeline.inputs import SpooledSource
from pipeline.kinds.pull_state import committed_cursor, main, record_cursor
from pipeline.run import ingest_dataset, lake_for
from pipeline.scratch import scratch
from sandbox.servers import serve_app

from .pull_api import TOKEN, api_versions, bronze_versions, pull_entry

pytestmark = pytest.mark.network
NEWEST = Cursor("2024-01-15T07:00:00Z", "50")  # product 50, the last of the sample


def _expire_the_log(settings) -> None:  # noqa: ANN001
    """What 30 days and a checkpointing writer do: commit files a checkpoint covers are deleted."""
    lake, contract = lake_for(settings), load_contracts()["products"]
    record_cursor(lake, contract, "another_source", Cursor("1"), key=b"k" * 32, reason="test")  # later
    table = lake.table_uri("bronze", "products")
    DeltaTable(table).create_checkpoint()
    month_ago = time.time() - 40 * 86400
    for path in (Path(table) / "_delta_log").iterdir():
        os.utime(path, (month_ago, month_ago))
    DeltaTable(table).cleanup_metadata()
    assert min(h["version"] for h in DeltaTable(table).history()) > 0
    with pytest.raises(CursorStateError):
        committed_cursor(lake, "products", "catalogue_api")  # the log alone no longer knows


def _cache(settings) -> CursorStore:  # noqa: ANN001
    return CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")


def test_after_the_log_expired_the_cache_confirmed_by_the_table_answers_and_is_recorded_again(
    make_settings,  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        _expire_the_log(settings)
        found = committed_cursor(lake_for(settings), "products", "catalogue_api", _cache(settings))
        assert (found.cursor, found.origin) == (NEWEST, "cache")

        touch_product(app, 5)
        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.input_errors == [] and again.total("valid") == 1
    assert committed_cursor(lake_for(settings), "products", "catalogue_api").origin == "lake"
    bronze = bronze_versions(lake_for(settings).table_uri("bronze", "products"))
    assert bronze == api_versions(app)


def test_a_cache_the_table_does_not_confirm_is_not_believed(make_settings) -> None:  # noqa: ANN001
    with serve_app(create_app(token=TOKEN)) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
        _expire_the_log(settings)
        _cache(settings).set("catalogue_api", Cursor("2099-01-01T00:00:00Z", "1"), app_id="forged")
        with pytest.raises(CursorStateError, match="no cached cursor is confirmed by the table"):
            committed_cursor(lake_for(settings), "products", "catalogue_api", _cache(settings))


def test_with_neither_log_nor_cache_the_pull_stops_with_a_clear_error_until_the_cursor_is_set(
    make_settings, capsys  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        _expire_the_log(settings)
        _cache(settings).delete("catalogue_api")
        touch_product(app, 5)

        stopped = ingest_dataset(settings, contract, load_sources(settings))
        [err] = stopped.input_errors
        assert err["source"] == "catalogue_api" and not err["retryable"]
        assert "no longer shows the source's newest cursor" in err["error"]
        assert "set-cursor catalogue_api" in err["error"] and stopped.results == []

        assert main(["set-cursor", "catalogue_api", NEWEST.value, "--id", NEWEST.id or ""]) == 0
        assert main(["show", "catalogue_api"]) == 0
        assert '"id": "50"' in capsys.readouterr().out
        resumed = ingest_dataset(settings, contract, load_sources(settings))
    assert resumed.input_errors == [] and resumed.total("valid") == 1
    assert bronze_versions(lake_for(settings).table_uri("bronze", "products")) == api_versions(app)


def test_a_pull_with_nothing_new_records_the_cursor_again_before_the_log_could_expire_it(
    make_settings,  # noqa: ANN001
) -> None:
    with serve_app(create_app(token=TOKEN)) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        table = lake_for(settings).table_uri("bronze", "products")
        DeltaTable(table).alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
        version = DeltaTable(table).version()
        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.results == [] and again.input_errors == []
    assert DeltaTable(table).version() == version + 1  # one empty commit: no rows, the cursor
    [newest] = DeltaTable(table).history(1)
    assert '"reason": "keepalive"' in newest["maestro.pull"]
    assert newest["operationMetrics"]["num_added_rows"] == 0
    found = committed_cursor(lake_for(settings), "products", "catalogue_api")
    assert (found.cursor, found.version) == (NEWEST, version + 1)


def test_a_cursor_entry_written_without_the_key_is_refused_and_nothing_is_pulled(
    make_settings,  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        lake = lake_for(settings)
        forged = {"source": "catalogue_api", "cursor": {"value": "2099-01-01T00:00:00Z", "id": "1"}}
        append_idempotent(lake.table_uri("bronze", "products"), iter(()), schema=bronze_schema(contract),
                          app_id="forged", metadata={"maestro.pull": forged})  # skips everything
        touch_product(app, 5)
        refused = ingest_dataset(settings, contract, load_sources(settings))
    [err] = refused.input_errors
    assert "has no valid HMAC: it was not written by this platform" in err["error"]
    assert refused.results == []  # the change waits; it is not skipped for ever


def test_a_source_upgraded_from_a_cursor_file_resumes_from_it_once_without_pulling_all_again(
    make_settings,  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        lake = lake_for(settings)
        ingest_dataset(settings, contract, [])
        # What the previous version did: commit the pull, then save the cursor in the file only.
        [spec] = load_sources(settings)
        source = build_source("http_pull", spec.as_config(), state_dir=settings.state_dir)
        pulled = source.fetch(Path(settings.state_dir) / "old-spool", since=None)
        spooled = SpooledSource(source, lambda n: read_spool(pulled.spool_path, n, columns=pulled.columns))
        with scratch(settings.home):  # as a run does
            assert ingest.ingest_object(spooled, pulled.source_object(), contract, lake).status == "committed"

        stopped = ingest_dataset(settings, contract, load_sources(settings))  # no file, no entry
        assert "holds rows of the source but no cursor entry" in stopped.input_errors[0]["error"]
        assert stopped.results == []
        _cache(settings).set("catalogue_api", pulled.new_cursor or "")  # what the old version saved

        touch_product(app, 8)
        resumed = ingest_dataset(settings, contract, load_sources(settings))
        assert resumed.input_errors == [] and resumed.total("valid") == 1
        assert committed_cursor(lake, "products", "catalogue_api").origin == "lake"

        touch_product(app, 9)
        _cache(settings).delete("catalogue_api")  # the lake holds the cursor now
        assert ingest_dataset(settings, contract, load_sources(settings)).total("valid") == 1
    assert bronze_versions(lake_for(settings).table_uri("bronze", "products")) == api_versions(app)
