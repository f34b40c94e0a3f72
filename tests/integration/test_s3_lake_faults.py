"""An ``s3://`` lake behind a faulty network: ambiguous commits and broken responses.

A fault proxy (tests/harness/s3_faults.py) sits between the pipeline and a real S3 server (moto on
loopback). Each test states which requests it breaks and checks that every row still ends in
exactly one place, once: bronze keys, quarantine rows and the recorded counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from config.sources import load_sources
from connectors.s3.local_server import local_s3_server
from contracts.loader import load_contracts
from lake.delta import open_table
from pipeline.run import ingest_dataset, lake_for
from tests.harness.s3_faults import fault_proxy_process, injected_faults

pytestmark = [pytest.mark.network, pytest.mark.slow]

HEADER = "customer_id,email,full_name,country,segment,signup_date,credit_limit\n"


def _customers(tmp_path: Path, n: int, bad_every: int) -> Path:
    lines = []
    for i in range(1, n + 1):
        country = "XX" if i % bad_every == 0 else "DE"  # not an allowed value: quarantined
        lines.append(f"{i},c{i}@example.com,Customer {i},{country},smb,2026-01-0{1 + i % 9},100")
    path = tmp_path / "in" / "customers.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def _lake_rows(settings, layer: str) -> list[tuple]:  # noqa: ANN001
    lake = lake_for(settings)
    dt = open_table(lake.table_uri(layer, "customers"), storage_options=lake.options())
    assert dt is not None
    con = duckdb.connect()
    con.register("t", dt.to_pyarrow_dataset())
    return con.execute("select customer_id from t order by 1").fetchall()


@pytest.fixture()
def faulty_lake(make_settings, tmp_path: Path):  # noqa: ANN001, ANN201
    """Settings whose s3:// lake is reached through a fault proxy; yields (settings, rules, log)."""
    rules, log = tmp_path / "rules.json", tmp_path / "faults.jsonl"
    rules.write_text("[]")
    with local_s3_server(separate_process=True) as s3:
        s3.client().create_bucket(Bucket="lake")
        with fault_proxy_process(s3.endpoint_url, rules, log) as proxy:
            env = {**s3.env(), "AWS_ENDPOINT_URL": proxy}
            source = {"name": "crm_csv", "kind": "csv", "dataset": "customers",
                      "paths": [str(tmp_path / "in" / "*.csv")]}
            settings = make_settings([source], MAESTRO_LAKE_URI="s3://lake/maestro", **env)
            yield settings, rules, log


def _set_rules(path: Path, rules: list[dict], *, seed: int = 0) -> None:
    path.write_text(json.dumps({"seed": seed, "rules": rules}))


@pytest.mark.parametrize("action", ["lost_response", "reset_after"])
@pytest.mark.parametrize("table", ["bronze", "quarantine"])
def test_a_commit_whose_response_is_lost_is_recognised_and_nothing_is_doubled(
    faulty_lake, tmp_path: Path, action: str, table: str  # noqa: ANN001
) -> None:
    settings, rules, log = faulty_lake
    _customers(tmp_path, 400, bad_every=10)
    contract = load_contracts()["customers"]
    # The commit file of the table's first data commit (version 1; version 0 created the table).
    _set_rules(rules, [{"action": action, "method": "PUT",
                        "path": rf"/lake/maestro/{table}/customers/_delta_log/0+1\.json$", "times": 1}])

    report = ingest_dataset(settings, contract, load_sources(settings), publish=False)

    broken = injected_faults(log)
    assert [(f["method"], f["action"]) for f in broken] == [("PUT", action)], broken
    [result] = report.results
    assert result.status == "committed", result.summary()
    assert result.counts.read == 400 and result.counts.valid == 360 and result.counts.rejected == 40
    assert result.bronze is not None and result.bronze.committed and result.bronze.rows == 360
    assert result.quarantine is not None and result.quarantine.committed
    assert _lake_rows(settings, "bronze") == [(i,) for i in range(1, 401) if i % 10]
    assert sorted(int(r[0]) for r in _lake_rows(settings, "quarantine")) == list(range(10, 401, 10))

    # Re-running commits nothing and reports the recorded counts.
    _set_rules(rules, [])
    again = ingest_dataset(settings, contract, load_sources(settings), publish=False)
    assert [r.status for r in again.results] == ["already_committed"]
    assert len(_lake_rows(settings, "quarantine")) == 40


@pytest.mark.parametrize("seed", [1, 2])
def test_ingest_converges_when_an_eighth_of_the_lake_responses_are_truncated_or_reset(
    faulty_lake, tmp_path: Path, seed: int  # noqa: ANN001
) -> None:
    settings, rules, log = faulty_lake
    _customers(tmp_path, 300, bad_every=7)
    contract = load_contracts()["customers"]
    _set_rules(rules, [
        {"action": "truncate", "method": "GET", "probability": 0.12},
        {"action": "reset_before", "probability": 0.03},
        {"action": "reset_after", "probability": 0.03},
    ], seed=seed)
    report = ingest_dataset(settings, contract, load_sources(settings), publish=False)
    _set_rules(rules, [])
    assert injected_faults(log), "the campaign broke no request"
    assert not report.input_errors, report.input_errors
    [result] = report.results
    assert result.status == "committed"
    assert _lake_rows(settings, "bronze") == [(i,) for i in range(1, 301) if i % 7]
    assert sorted(int(r[0]) for r in _lake_rows(settings, "quarantine")) == list(range(7, 301, 7))
