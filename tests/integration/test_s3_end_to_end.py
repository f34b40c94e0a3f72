"""S3 source into an s3:// lake, both on a real S3 HTTP endpoint on loopback (moto server mode)."""

from __future__ import annotations

import duckdb
import pytest

from config.sources import load_sources
from connectors.s3.local_server import local_s3_server
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.run import ingest_dataset, lake_for

pytestmark = [pytest.mark.network, pytest.mark.slow]

HEADER = "shipment_id,order_id,carrier,status,event_at,weight_kg\n"


def _rows(start: int, n: int, *, bad: int | None = None) -> bytes:
    lines = []
    for i in range(start, start + n):
        carrier = "fedex" if i == bad else "dhl"
        lines.append(
            f"SHP-{i:07d},ORD-{100000 + i:06d},{carrier},in_transit,2026-11-03T10:{i % 60:02d}:00Z,1.5"
        )
    return (HEADER + "\n".join(lines) + "\n").encode()


def test_new_objects_once_changed_objects_again_and_restarts_repeat_nothing(make_settings) -> None:  # noqa: ANN001
    with local_s3_server(separate_process=True) as s3:
        client = s3.client()
        for bucket in ("carrier", "lake"):
            client.create_bucket(Bucket=bucket)
        settings = make_settings(
            [
                {
                    "name": "carrier_s3",
                    "kind": "s3",
                    "dataset": "shipments",
                    "bucket": "carrier",
                    "prefix": "in/",
                    "endpoint_url": s3.endpoint_url,
                    "region": s3.region,
                }
            ],
            MAESTRO_LAKE_URI="s3://lake/maestro",
            **s3.env(),
        )
        contract = load_contracts()["shipments"]
        sources = load_sources(settings)
        client.put_object(Bucket="carrier", Key="in/a.csv", Body=_rows(1, 20, bad=5))
        client.put_object(Bucket="carrier", Key="in/b.csv", Body=_rows(100, 10))

        first = ingest_dataset(settings, contract, sources)
        assert [r.status for r in first.results] == ["committed", "committed"]
        assert first.total("valid") == 29 and first.total("rejected") == 1
        lake = lake_for(settings)
        bronze = lake.table_uri("bronze", "shipments")
        assert bronze.startswith("s3://lake/")
        assert table_facts(bronze, storage_options=lake.options())["rows"] == 29

        # A restart (fresh call, no state kept in the process) finds nothing new.
        again = ingest_dataset(settings, contract, load_sources(settings))
        assert again.results == [] and again.input_errors == []

        # A changed object (new content, new ETag) is ingested as a new version.
        client.put_object(Bucket="carrier", Key="in/a.csv", Body=_rows(1, 21))
        changed = ingest_dataset(settings, contract, load_sources(settings))
        assert [r.status for r in changed.results] == ["committed"]
        assert changed.results[0].manifest.objects[0].uri == "s3://carrier/in/a.csv"
        assert table_facts(bronze, storage_options=lake.options())["rows"] == 29 + 21

        # The DuckDB catalog holds the s3:// lake's tables with the same counts.
        con = duckdb.connect(str(settings.catalog_path), read_only=True)
        try:
            assert con.execute("select count(*) from bronze.shipments").fetchone()[0] == 50
            assert con.execute("select count(*) from quarantine.shipments").fetchone()[0] == 1
        finally:
            con.close()


def test_an_unreachable_bucket_is_a_clear_retryable_error_and_commits_nothing(make_settings) -> None:  # noqa: ANN001
    settings = make_settings(
        [
            {
                "name": "carrier_s3",
                "kind": "s3",
                "dataset": "shipments",
                "bucket": "carrier",
                "prefix": "in/",
                "endpoint_url": "http://127.0.0.1:9",
                "region": "us-east-1",
                "max_attempts": 2,
                "connect_timeout": 0.5,
                "read_timeout": 0.5,
            }
        ],
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
    )
    report = ingest_dataset(settings, load_contracts()["shipments"], load_sources(settings))
    assert report.results == []
    [err] = report.input_errors
    assert err["retryable"] and err["source"] == "carrier_s3"
    assert "s3://carrier/in/" in err["input"] and "127.0.0.1:9" in err["error"]
    assert table_facts(lake_for(settings).table_uri("bronze", "shipments"))["rows"] == 0


def test_the_s3_sensor_requests_one_run_per_new_object_version(make_settings) -> None:  # noqa: ANN001
    from dagster import DagsterInstance, build_sensor_context

    from orchestration.definitions import build_definitions

    with local_s3_server(separate_process=True) as s3:
        client = s3.client()
        client.create_bucket(Bucket="carrier")
        settings = make_settings(
            [
                {
                    "name": "carrier_s3",
                    "kind": "s3",
                    "dataset": "shipments",
                    "bucket": "carrier",
                    "prefix": "in/",
                    "endpoint_url": s3.endpoint_url,
                    "region": s3.region,
                }
            ],
            **s3.env(),
        )
        client.put_object(Bucket="carrier", Key="in/a.csv", Body=_rows(1, 5))
        client.put_object(Bucket="carrier", Key="in/b.csv", Body=_rows(10, 5))
        defs = build_definitions(settings)
        sensor = defs.resolve_sensor_def("carrier_s3_sensor")
        with DagsterInstance.ephemeral() as instance:

            def tick() -> list:
                return sensor.evaluate_tick(
                    build_sensor_context(instance=instance, definitions=defs)
                ).run_requests

            first, second = tick(), tick()
            assert sorted(r.tags["maestro/object"] for r in first) == [
                "s3://carrier/in/a.csv",
                "s3://carrier/in/b.csv",
            ]
            # Ticking again names the same run keys: Dagster de-duplicates them, one run per object.
            assert {r.run_key for r in second} == {r.run_key for r in first}
            ingest_dataset(settings, load_contracts()["shipments"], load_sources(settings))
            assert tick() == []  # committed objects are no longer requested
            client.put_object(Bucket="carrier", Key="in/a.csv", Body=_rows(1, 6))  # a new version
            [changed] = tick()
            assert changed.tags["maestro/object"] == "s3://carrier/in/a.csv"
            assert changed.run_key not in {r.run_key for r in first}


def test_an_object_with_the_bytes_of_an_ingested_one_is_fetched_once_not_every_run(make_settings) -> None:  # noqa: ANN001
    from connectors.s3.source import S3Source
    from connectors.s3.state import ingested_from_manifests
    from pipeline.manifests import committed_manifests

    with local_s3_server(separate_process=True) as s3:
        client = s3.client()
        client.create_bucket(Bucket="carrier")
        spec = {"name": "carrier_s3", "kind": "s3", "dataset": "shipments", "bucket": "carrier",
                "prefix": "in/", "endpoint_url": s3.endpoint_url, "region": s3.region}
        settings = make_settings([spec], **s3.env())
        contract, sources = load_contracts()["shipments"], load_sources(settings)
        client.put_object(Bucket="carrier", Key="in/a.csv", Body=_rows(1, 5))
        assert [r.status for r in ingest_dataset(settings, contract, sources).results] == ["committed"]
        client.put_object(Bucket="carrier", Key="in/copy-of-a.csv", Body=_rows(1, 5))

        second = ingest_dataset(settings, contract, sources)
        assert [r.status for r in second.results] == ["already_committed"]
        ingested = ingested_from_manifests(committed_manifests(lake_for(settings), "shipments"))
        config = {k: v for k, v in spec.items() if k != "kind"}
        assert S3Source.from_dict(config, ingested=ingested).discover() == []
        assert ingest_dataset(settings, contract, sources).results == []
        assert table_facts(lake_for(settings).table_uri("bronze", "shipments"))["rows"] == 5
