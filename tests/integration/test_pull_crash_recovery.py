"""HTTP pull crashes: a real pipeline process SIGKILLed at a fault point, the API changing before
the re-run, and every version of every record in bronze exactly once afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.sources import load_sources
from connectors.http_pull import Cursor, CursorStore
from connectors.http_pull.sample_api import create_app, sample_products, touch_product
from contracts.loader import load_contracts
from faults import FaultInjected
from lake.delta import table_facts
from pipeline.kinds.pull_key import pull_key
from pipeline.kinds.pull_state import committed_cursor
from pipeline.run import ingest_dataset, lake_for
from sandbox.servers import serve_app

from .pull_api import TOKEN, ChangingApi, api_versions, bronze_versions, pull_entry

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[2]
RUN = (
    "from config.settings import Settings; from config.sources import load_sources; "
    "from contracts.loader import load_contracts; from pipeline.run import ingest_dataset; "
    "s = Settings.from_env(); "
    "r = ingest_dataset(s, load_contracts()['products'], load_sources(s), publish=False); "
    "print(len(r.results), r.input_errors)"
)


def _run_killed_at(point: str, log: Path) -> subprocess.CompletedProcess[str]:
    """The real pipeline in its own process, SIGKILLed when it reaches ``point``."""
    env = {**os.environ, "MAESTRO_FAULTS": f"{point}=kill", "MAESTRO_FAULTS_LOG": str(log)}
    return subprocess.run(
        [sys.executable, "-c", RUN], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _spool_dir(settings) -> Path:  # noqa: ANN001
    return Path(settings.state_dir) / "http_pull" / "spool" / "catalogue_api"


def _assert_every_version_once(app, settings) -> None:  # noqa: ANN001
    bronze = bronze_versions(lake_for(settings).table_uri("bronze", "products"))
    expected = api_versions(app)
    assert sorted(expected - bronze) == [] and sorted(bronze - expected) == []
    assert max(bronze.values()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    ["pipeline.pull.after_commit", "pipeline.pull.after_fetch", "pipeline.pull.after_cursor_cache"],
)
def test_a_pull_killed_around_its_commit_then_rerun_after_the_api_changed_has_every_version_once(
    make_settings, tmp_path: Path, point: str  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN, products=sample_products(500), max_page_size=100)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url, pagination={"type": "keyset", "page_size": 100})],
                                 SAMPLE_API_TOKEN=TOKEN)
        log = tmp_path / "faults.jsonl"
        killed = _run_killed_at(point, log)
        assert killed.returncode == -9, killed.stderr[-2000:]
        [landed] = [json.loads(line) for line in log.read_text().splitlines()]
        assert (landed["point"], landed["action"]) == (point, "kill")

        committed = point != "pipeline.pull.after_fetch"
        rows = table_facts(lake_for(settings).table_uri("bronze", "products"))["rows"]
        assert rows == (500 if committed else 0)
        for product_id in range(1, 501, 20):  # the API changes before the re-run: 25 new versions
            touch_product(app, product_id)

        again = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
        assert again.input_errors == []
        new = sum(r.counts.valid for r in again.results if r.status == "committed")
        assert new == (25 if committed else 525)  # the killed pull's records (once), then the changes

    _assert_every_version_once(app, settings)
    assert len(app.state.history) == 525
    assert sorted(p.name for p in _spool_dir(settings).iterdir()) == [".lock"]  # nothing leaked
    newest = max(app.state.products, key=lambda p: (p["updated_at"], p["id"]))
    lake = lake_for(settings)
    assert committed_cursor(lake, "products", "catalogue_api").cursor == Cursor(
        newest["updated_at"], str(newest["id"])
    )


def test_a_crash_between_the_bronze_and_the_quarantine_commit_is_finished_from_the_spool(
    make_settings, monkeypatch  # noqa: ANN001
) -> None:
    products = sample_products(60)
    for p in products[::10]:
        p["price"] = -1  # six rows that break the contract (min: 0)
    app = create_app(token=TOKEN, products=products)
    real = __import__("pipeline.ingest", fromlist=["append_idempotent"]).append_idempotent

    def bronze_only(table_uri, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if "/quarantine/" in table_uri:
            raise FaultInjected("disk gone before the quarantine commit")
        return real(table_uri, *args, **kwargs)

    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        monkeypatch.setattr("pipeline.ingest.append_idempotent", bronze_only)
        with pytest.raises(FaultInjected):
            ingest_dataset(settings, contract, load_sources(settings))
        monkeypatch.setattr("pipeline.ingest.append_idempotent", real)
        for product_id in (5, 15):
            touch_product(app, product_id)  # the API changes before the re-run

        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.input_errors == []
    lake = lake_for(settings)
    quarantined = DeltaTable(lake.table_uri("quarantine", "products")).to_pyarrow_table().num_rows
    assert quarantined == 6  # the first pull's rejected rows, once
    bronze = bronze_versions(lake.table_uri("bronze", "products"))
    assert sum(bronze.values()) == 54 + 2 and max(bronze.values()) == 1


def _leave_described_spool(
    spool: Path, name: str, records: list[dict], since: Cursor | None, key: bytes | None
) -> None:
    """A finished pull as a killed run leaves it: the spool and its description (signed with
    ``key``; ``None`` for a description forged without the key)."""
    import hashlib

    from connectors.http_pull import PullResult

    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    (spool / name).write_bytes(data)
    last = records[-1]
    PullResult(
        source="catalogue_api", uri="http://127.0.0.1:9/products", since=since,
        new_cursor=Cursor(last["updated_at"], str(last["id"])), spool_path=spool / name,
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), records=len(records),
        columns=tuple(records[0]), pages=1, requests=1, retries=0,
    ).save(key=key)


def test_leftovers_of_killed_pulls_are_removed_and_none_is_mistaken_for_data(
    make_settings,  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))  # all 50, cursor at product 50
        key, spool = pull_key(settings.keys_dir), _spool_dir(settings)
        now = committed_cursor(lake_for(settings), "products", "catalogue_api").cursor
        (spool / "catalogue_api-a.ndjson.part").write_text('{"id": 999}\n')  # killed mid-way
        (spool / "catalogue_api-b.ndjson").write_text('{"id": 998}\n')  # killed before its description
        old = dict(sample_products(1)[0], id=997, sku="SKU-0997")  # a pull from before the last commit
        _leave_described_spool(spool, "catalogue_api-c.ndjson", [old], None, key)
        late = dict(old, id=996, sku="SKU-0996", updated_at="2099-01-01T00:00:00Z")
        _leave_described_spool(spool, "catalogue_api-d.ndjson", [late], now, key)
        (spool / "catalogue_api-d.ndjson").write_text(json.dumps(dict(late, id=995)) + "\n")  # altered
        forged = dict(late, id=994, sku="SKU-0994")  # fits the contract, starts at the lake's cursor
        _leave_described_spool(spool, "catalogue_api-e.ndjson", [forged], now, None)
        touch_product(app, 3)
        again = ingest_dataset(settings, contract, load_sources(settings))
    [err] = again.input_errors
    assert "discarded catalogue_api-e.ndjson" in err["error"] and "HMAC is missing or wrong" in err["error"]
    assert again.total("valid") == 1  # only the real change
    assert sorted(p.name for p in spool.iterdir()) == [".lock"]
    _assert_every_version_once(app, settings)


@pytest.mark.slow
@pytest.mark.parametrize(
    "second",
    ["pipeline.pull.after_fetch", "pipeline.pull.before_leftover_commit", "pipeline.pull.after_commit"],
)
def test_a_pull_killed_after_its_fetch_then_its_rerun_killed_too_lose_no_version(
    make_settings, tmp_path: Path, second: str  # noqa: ANN001
) -> None:
    app = create_app(token=TOKEN, products=sample_products(200), max_page_size=100)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url, pagination={"type": "keyset", "page_size": 100})],
                                 SAMPLE_API_TOKEN=TOKEN)
        # When the second run fetched before it died, the same products change again, so their
        # versions in between exist only in its spool; otherwise other products change (a version
        # replaced before any pull read it cannot be pulled by anyone).
        again_first = 1 if second == "pipeline.pull.after_fetch" else 2
        for n, (point, first) in enumerate((("pipeline.pull.after_fetch", 1), (second, again_first))):
            log = tmp_path / f"faults-{n}.jsonl"
            killed = _run_killed_at(point, log)
            assert killed.returncode == -9, killed.stderr[-2000:]
            assert json.loads(log.read_text().splitlines()[-1])["point"] == point
            for product_id in range(first, 200, 40):  # 5 new versions
                touch_product(app, product_id)
        again = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    assert again.input_errors == []
    _assert_every_version_once(app, settings)
    assert len(app.state.history) == 210
    assert sorted(p.name for p in _spool_dir(settings).iterdir()) == [".lock"]


def test_the_cache_is_only_a_cache_the_lake_wins(make_settings) -> None:  # noqa: ANN001
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        cache = CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")
        cache.set("catalogue_api", Cursor("2099-01-01T00:00:00Z", "1"))  # a cache far ahead
        touch_product(app, 9)
        again = ingest_dataset(settings, contract, load_sources(settings))
        assert again.total("valid") == 1  # pulled from the lake's cursor, not the cache's
        cache.delete("catalogue_api")
        assert ingest_dataset(settings, contract, load_sources(settings)).results == []
    _assert_every_version_once(app, settings)


def test_two_pulls_of_one_source_at_once_commit_every_version_once(make_settings) -> None:  # noqa: ANN001
    app = create_app(token=TOKEN, products=sample_products(200), max_page_size=20)
    api = ChangingApi(app, per_page=1, pages=8, delay_s=0.05)  # slow, and changing while read
    with serve_app(api) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        ingest_dataset(settings, load_contracts()["products"], [])  # the empty tables
        # Two runs of the pipeline at once, as a schedule tick and a manual run would be.
        runs = [
            subprocess.Popen([sys.executable, "-c", RUN], cwd=REPO, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert all(out.strip().endswith("[]") for out, _ in outputs)  # no input errors
        assert api.touched == 8
    _assert_every_version_once(app, settings)


def test_a_pull_that_waits_too_long_for_another_reports_it_retryably(
    make_settings, monkeypatch  # noqa: ANN001
) -> None:
    from connectors.http_pull import SpoolLock

    settings = make_settings([pull_entry("http://127.0.0.1:9")], SAMPLE_API_TOKEN=TOKEN)
    monkeypatch.setattr("pipeline.kinds.pull.LOCK_WAIT_S", 0.1)
    with SpoolLock(_spool_dir(settings)):
        report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    [err] = report.input_errors
    assert err["retryable"] and "another pull of this source is still running" in err["error"]


def test_a_finished_pull_that_began_before_the_lakes_cursor_adds_only_its_newer_versions(
    make_settings,  # noqa: ANN001
) -> None:
    from connectors.factory import build_source

    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        [spec] = load_sources(settings)
        source = build_source("http_pull", spec.as_config(), state_dir=settings.state_dir)
        # Two pulls from the same start, both finished and never committed (two killed runs
        # that shared nothing but this folder), with the same products changing twice.
        key = pull_key(settings.keys_dir)
        source.fetch(_spool_dir(settings), since=None, sign_with=key)
        for product_id in (4, 24, 44):
            touch_product(app, product_id)
        source.fetch(_spool_dir(settings), since=None, sign_with=key)
        for product_id in (4, 24, 44):
            touch_product(app, product_id)  # the versions in between exist only in the 2nd spool
        report = ingest_dataset(settings, load_contracts()["products"], load_sources(settings))
    assert report.input_errors == []
    assert [r.counts.valid for r in report.results] == [50, 3, 3]  # first pull, its newer part, now
    _assert_every_version_once(app, settings)


def test_an_unreadable_cursor_cache_is_replaced_not_trusted(make_settings) -> None:  # noqa: ANN001
    app = create_app(token=TOKEN)
    with serve_app(app) as url:
        settings = make_settings([pull_entry(url)], SAMPLE_API_TOKEN=TOKEN)
        contract = load_contracts()["products"]
        ingest_dataset(settings, contract, load_sources(settings))
        cache = CursorStore(Path(settings.state_dir) / "http_pull" / "cursors")
        cache.path("catalogue_api").write_text("{torn")
        assert ingest_dataset(settings, contract, load_sources(settings)).input_errors == []
        assert cache.get("catalogue_api") == Cursor("2024-01-15T07:00:00Z", "50")
        cache.path("catalogue_api").write_text("[]")
        touch_product(app, 2)
        again = ingest_dataset(settings, contract, load_sources(settings))
    assert again.input_errors == [] and again.total("valid") == 1
    _assert_every_version_once(app, settings)
