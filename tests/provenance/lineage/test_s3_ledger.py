"""The ledger beside an S3 lake: settings, transport, lineage queries and the ledger CLI on S3.

The S3 endpoint is moto's server on loopback in its own process, reached over HTTP through the
AWS default chain (``AWS_ENDPOINT_URL`` and the dummy credentials of ``LocalS3.env()``), or
through an explicit endpoint when only the lake's ``MAESTRO_LAKE_ENDPOINT_URL`` names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from connectors.s3.local_server import LocalS3, local_s3_server, unique_bucket
from provenance.cli import main as ledger_cli
from provenance.ledger.keys import load_or_create_signer
from provenance.lineage import (
    DatasetSpec,
    LedgerTransport,
    LedgerTransportConfig,
    LineageIndex,
    LineageSettings,
    RunContext,
    asset_event,
)
from provenance.lineage.cli import main as lineage_main
from provenance.lineage.exceptions import EventInvalidError, LineageConfigError
from provenance.lineage.location import ledger_exists, location_key, open_ledger
from provenance.lineage.naming import DatasetRef, delta_table_dataset
from provenance.lineage.server_config import LineageServerConfig
from provenance.lineage.transport import close_shared_ledgers
from provenance.lineage.validate import event_dict

REPO = Path(__file__).resolve().parents[3]
SOURCE = DatasetRef("file", "/landing/orders_2026-11-01.csv")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[LocalS3]:
    with local_s3_server(separate_process=True) as server:
        yield server
    close_shared_ledgers()  # the transports' open S3 ledgers talk to this server


@pytest.fixture
def s3(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch) -> LocalS3:
    """The server, with the AWS default chain of this process pointed at it."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MAESTRO_LAKE_ENDPOINT_URL", raising=False)
    return s3_server


@pytest.fixture
def bucket(s3: LocalS3) -> str:
    name = unique_bucket("lake")
    s3.client().create_bucket(Bucket=name)
    return name


def _transport(ledger: str, spec_dir: Path, **extra: object) -> LedgerTransport:
    return LedgerTransport(
        LedgerTransportConfig.from_dict({"ledger_dir": ledger, "spec_dir": str(spec_dir), **extra})
    )


def _ingest_run(transport: LedgerTransport, bronze: DatasetRef) -> list[int]:
    """START and COMPLETE of one ingest run: the landing file -> the bronze Delta table."""
    run = RunContext(run_id=str(uuid.uuid4()))
    start = asset_event("START", job_name="ingest.orders", run=run, outputs=[DatasetSpec(bronze)])
    complete = asset_event(
        "COMPLETE",
        job_name="ingest.orders",
        run=run,
        inputs=[DatasetSpec(SOURCE, row_count=10)],
        outputs=[DatasetSpec(bronze, row_count=9)],
    )
    return [transport.emit(start), transport.emit(complete)]


# -- where the ledger is ------------------------------------------------------------------------


def test_the_ledger_lives_beside_an_s3_lake_and_in_maestro_home_for_a_local_one(
    tmp_path: Path,
) -> None:
    env = {"MAESTRO_HOME": str(tmp_path), "MAESTRO_LAKE_URI": "s3://b/lake"}
    s3_settings = Settings.from_env(env)
    assert s3_settings.ledger_dir == "s3://b/lake/_ledger"
    assert Settings.from_env({**env, "MAESTRO_LAKE_URI": "s3://b/lake/"}).ledger_dir == (
        "s3://b/lake/_ledger"
    )
    local = Settings.from_env({"MAESTRO_HOME": str(tmp_path)})
    assert local.ledger_dir == tmp_path / "ledger"

    endpoints = {"MAESTRO_LAKE_ENDPOINT_URL": "http://127.0.0.1:9000/", "AWS_ENDPOINT_URL": "x"}
    assert s3_settings.lake_endpoint_url(endpoints) == "http://127.0.0.1:9000"
    assert s3_settings.lake_endpoint_url({"AWS_ENDPOINT_URL": "http://h:1"}) == "http://h:1"
    assert s3_settings.lake_endpoint_url({}) is None
    assert local.lake_endpoint_url(endpoints) is None

    lineage = LineageSettings.from_settings(s3_settings)
    assert lineage.ledger_dir == "s3://b/lake/_ledger"
    assert LineageSettings.from_settings(local).ledger_dir == tmp_path / "ledger"
    assert LineageSettings.from_settings(local).endpoint_url is None


def test_configs_keep_an_s3_location_a_string_and_name_a_bad_one(tmp_path: Path) -> None:
    config = LedgerTransportConfig.from_dict({"ledger_dir": "s3://my-bucket/lake/_ledger/"})
    assert config.ledger_dir == "s3://my-bucket/lake/_ledger"
    local = LedgerTransportConfig.from_dict({"ledger_dir": str(tmp_path / "ledger")})
    assert local.ledger_dir == tmp_path / "ledger"
    for bad, problem in (
        ("gs://my-bucket/ledger", "scheme"),
        ("s3://No_Such/ledger", "bucket name"),
    ):
        with pytest.raises(LineageConfigError, match=f"'ledger_dir'.*{problem}"):
            LedgerTransportConfig.from_dict({"ledger_dir": bad})
    with pytest.raises(LineageConfigError, match="'endpoint_url'"):
        LedgerTransportConfig.from_dict({"ledger_dir": "s3://my-bucket/l", "endpoint_url": "x"})

    server = LineageServerConfig.from_dict(
        {
            "ledger_dir": "s3://my-bucket/lake/_ledger",
            "endpoint_url": "http://127.0.0.1:9000",
            "issuer": "https://idp.example.com",
            "audience": "maestro-lineage",
            "public_key_pems": ["-----BEGIN PUBLIC KEY-----\n..."],
        },
        base_dir=tmp_path,
    )
    assert server.ledger_dir == "s3://my-bucket/lake/_ledger"
    assert server.endpoint_url == "http://127.0.0.1:9000"
    assert location_key("s3://my-bucket/lake/") == "s3://my-bucket/lake"
    assert location_key(tmp_path / "x" / ".." / "ledger") == str((tmp_path / "ledger").resolve())


# -- on S3 ----------------------------------------------------------------------------------------


@pytest.mark.network
def test_the_transport_appends_validated_events_to_an_s3_ledger_that_answers_lineage(
    s3: LocalS3, bucket: str, spec_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = f"s3://{bucket}/lake/_ledger"
    bronze = delta_table_dataset(f"s3://{bucket}/lake/bronze/orders")
    assert not ledger_exists(ledger)
    assert LineageIndex.from_ledger(ledger).size == 0  # no ledger yet: nothing to answer from

    transport = _transport(ledger, spec_dir)
    assert _ingest_run(transport, bronze) == [0, 1]
    other = _transport(ledger, spec_dir)  # another transport of this process: the same ledger
    assert other.emit(asset_event("START", job_name="catalog", run=RunContext(str(uuid.uuid4())))) == 2
    bad = event_dict(asset_event("START", job_name="catalog", run=RunContext(str(uuid.uuid4()))))
    bad["run"]["runId"] = "not-a-uuid"
    with pytest.raises(EventInvalidError):
        transport.emit(bad)

    # Stored as objects under the prefix (not under a folded "s3:/..." local folder).
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="lake/_ledger/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert "lake/_ledger/ledger.json" in keys and len(keys) == 4  # ledger.json + 3 batches
    assert not Path("s3:").exists()
    assert ledger_exists(ledger)

    index = LineageIndex.from_ledger(ledger)
    try:
        answer = index.upstream(bronze)
        assert [d["uri"] for d in answer["datasets"]] == [SOURCE.uri]
        assert answer["edges"] == [{"from": SOURCE.uri, "to": bronze.uri, "jobs": ["maestro/ingest.orders"]}]
        assert index.runs(bronze)["runs"][0]["state"] == "COMPLETE"
        _ingest_run(transport, bronze)  # appended after the index was built: read on refresh
        assert index.refresh(ledger) == 2
        assert index.runs(bronze)["total"] == 2
    finally:
        index.close()

    assert lineage_main(["runs", ledger, bronze.uri]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 2
    assert lineage_main(["datasets", f"s3://{bucket}/elsewhere"]) == 2
    assert "is not a ledger" in capsys.readouterr().err


@pytest.mark.network
def test_the_ledger_cli_verifies_an_s3_ledger_in_a_subprocess(
    s3: LocalS3, bucket: str, spec_dir: Path, tmp_path: Path
) -> None:
    ledger, keys = f"s3://{bucket}/lake/_ledger", tmp_path / "keys"
    _ingest_run(_transport(ledger, spec_dir), delta_table_dataset(f"s3://{bucket}/lake/t"))
    with open_ledger(ledger, key_dir=keys) as opened:
        assert opened.checkpoint().checkpoint.size == 2
        origin = opened.origin

    env = {**os.environ, **s3.env(), "PYTHONPATH": str(REPO)}
    verify = [sys.executable, "-m", "provenance.cli", "verify", ledger, "--quiet"]
    done = subprocess.run(
        [*verify, "--key-dir", str(keys)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: {origin}: 2 entries"), done.stdout
    assert "1 checkpoints verified" in done.stdout

    # Someone else's key of the same name: the checkpoint does not verify.
    forged = load_or_create_signer(tmp_path / "forger", origin).verifier.vkey
    failed = subprocess.run(
        [*verify, "--vkey", forged], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.startswith("FAILED"), failed.stdout


@pytest.mark.network
def test_an_explicit_lake_endpoint_reaches_the_s3_store_past_the_default_chain(
    s3: LocalS3,
    bucket: str,
    spec_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Only the lake's endpoint names the server; the default chain's points at a closed port,
    # so any call that missed the explicit endpoint would fail (on loopback, at once).
    monkeypatch.setenv("MAESTRO_LAKE_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path), "MAESTRO_LAKE_URI": f"s3://{bucket}/lake"})
    ls = LineageSettings.from_settings(settings)
    assert (ls.ledger_dir, ls.endpoint_url) == (f"s3://{bucket}/lake/_ledger", s3.endpoint_url)

    transport = _transport(str(ls.ledger_dir), spec_dir, endpoint_url=ls.endpoint_url)
    bronze = delta_table_dataset(f"s3://{bucket}/lake/bronze/orders")
    assert _ingest_run(transport, bronze) == [0, 1]
    with ls.open_ledger() as ledger:
        assert ledger.checkpoint().checkpoint.size == 2
        assert ledger.verify().ok
    index = LineageIndex.from_ledger(ls.ledger_dir, endpoint_url=ls.endpoint_url)
    assert index.upstream(bronze)["datasets"][0]["uri"] == SOURCE.uri
    index.close()
    assert ledger_exists(ls.ledger_dir, endpoint_url=ls.endpoint_url)

    # Both command lines take the endpoint too.
    ledger, endpoint = str(ls.ledger_dir), ["--endpoint-url", s3.endpoint_url]
    assert ledger_cli(["verify", ledger, "--key-dir", str(ls.key_dir), "--quiet", *endpoint]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    assert lineage_main(["upstream", ledger, bronze.uri, *endpoint]) == 0
    assert json.loads(capsys.readouterr().out)["datasets"][0]["uri"] == SOURCE.uri


@pytest.mark.network
def test_the_ledger_cli_follows_aws_endpoint_url_and_reports_an_unreachable_store_as_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # loopback, nothing listening
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    ledger = "s3://ledger-bucket/lake/_ledger"
    assert ledger_cli(["verify", ledger, "--key-dir", str(tmp_path), "--quiet"]) == 75
    err = capsys.readouterr().err
    assert "unreachable" in err and "127.0.0.1:9" in err, err
