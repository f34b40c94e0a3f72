"""A push ingest killed at its crash-sensitive moments converges on the next run, nothing twice.

The ingest runs in a child process (``pipeline.run.ingest_dataset``, what the Dagster asset
calls) that a fault point SIGKILLs; the re-run is the next run the push sensor requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings
from config.sources import load_sources, resolve_path
from connectors.http_push import Landing
from contracts.loader import load_contracts
from lake.delta import table_facts
from pipeline.run import ingest_dataset, lake_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "samples" / "payments" / "payments_2026-11-03.csv"
SOURCE = {
    "name": "psp_push", "kind": "http_push", "dataset": "payments", "landing_root": "${MAESTRO_LANDING}/push"
}
INGEST = (
    "from config.settings import Settings; from config.sources import load_sources;"
    "from contracts.loader import load_contracts; from pipeline.run import ingest_dataset;"
    "s = Settings.from_env();"
    "ingest_dataset(s, load_contracts(s.contracts_dir)['payments'], load_sources(s), publish=False)"
)


def land(settings: Settings, body: bytes, content_type: str = "text/csv") -> tuple[Landing, str]:
    """Land a batch exactly as the push endpoint does (stream to .tmp, fsync, rename, receipt)."""
    landing = Landing(resolve_path(settings, str(load_sources(settings)[0].options["landing_root"])))
    writer = landing.open_body(
        "payments", content_type=content_type, gzip=False, max_bytes=1 << 26, max_decoded_bytes=1 << 26
    )
    writer.write(body)
    writer.finish()
    receipt = landing.commit("payments", writer, content_type=content_type, caller="psp").receipt
    return landing, receipt.batch_id


def killed_at(settings: Settings, point: str, tmp_path: Path) -> dict:
    """Run the ingest in a child process killed at ``point``; return the fault log line."""
    log = tmp_path / "faults.log"
    env = {**os.environ, "MAESTRO_FAULTS": f"{point}=kill", "MAESTRO_FAULTS_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-c", INGEST], cwd=REPO, env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    [line] = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["point"] == point and line["action"] == "kill"
    return line


def rows(settings: Settings, layer: str) -> int:
    return int(table_facts(lake_for(settings).table_uri(layer, "payments"))["rows"])


def rerun(settings: Settings):  # noqa: ANN201
    return ingest_dataset(settings, load_contracts()["payments"], load_sources(settings), publish=False)


def test_a_kill_between_the_lake_commit_and_marking_the_batch_converges_on_the_next_run(
    make_settings, tmp_path: Path
) -> None:  # noqa: ANN001
    settings = make_settings([SOURCE])
    landing, batch_id = land(settings, SAMPLE.read_bytes())
    killed_at(settings, "pipeline.push.after_commit", tmp_path)
    assert (rows(settings, "bronze"), rows(settings, "quarantine")) == (36, 3)  # committed ...
    assert [b.batch_id for b in landing.pending("payments")] == [batch_id]  # ... but still pending

    report = rerun(settings)
    assert [r.status for r in report.results] == ["already_committed"]
    assert (rows(settings, "bronze"), rows(settings, "quarantine")) == (36, 3)  # nothing twice
    assert landing.pending("payments") == []
    record = json.loads((landing.dir("payments", "processed") / f"{batch_id}.processed.json").read_text())
    assert record["details"]["status"] == "already_committed"


def test_a_kill_in_the_middle_of_marking_is_finished_by_the_next_run(
    make_settings, tmp_path: Path
) -> None:  # noqa: ANN001
    settings = make_settings([SOURCE])
    landing, batch_id = land(settings, SAMPLE.read_bytes())
    killed_at(settings, "push.landing.after_receipt_move", tmp_path)
    batches, processed = landing.dir("payments"), landing.dir("payments", "processed")
    assert landing.pending("payments") == []
    assert [p.name for p in batches.iterdir()] == [f"{batch_id}.csv"]  # body left behind
    rerun(settings)
    assert list(batches.iterdir()) == []
    assert sorted(p.name for p in processed.iterdir()) == [
        f"{batch_id}.csv", f"{batch_id}.processed.json", f"{batch_id}.receipt.json"
    ]
    assert (rows(settings, "bronze"), rows(settings, "quarantine")) == (36, 3)


def test_a_batch_of_deeply_nested_json_never_stays_pending_and_never_crashes_the_run(
    make_settings,
) -> None:  # noqa: ANN001
    settings = make_settings([SOURCE])
    good = json.loads(json.dumps({"payment_id": "PAY-10000001", "order_id": "ORD-100025",
                                  "paid_at": "2026-11-03T08:17:00Z", "amount": 81.7, "currency": "USD",
                                  "method": "sepa", "payer_email": None}))
    deep = '{"payment_id": "PAY-10000002", "note": ' + "[" * 50_000 + "]" * 50_000 + "}"
    body = f"{json.dumps(good)}\n{deep}\n".encode()
    landing, batch_id = land(settings, body, "application/x-ndjson")
    report = rerun(settings)
    assert landing.pending("payments") == []
    assert not (landing.dir("payments", "quarantine") / f"{batch_id}.error.json").exists()
    assert (landing.dir("payments", "processed") / f"{batch_id}.processed.json").exists()
    [result] = report.results
    assert result.status == "committed"
    assert result.counts.reasons.get("json_depth") == 1  # the deep row, quarantined with its reason
    assert (rows(settings, "bronze"), rows(settings, "quarantine")) == (1, 1)
    from deltalake import DeltaTable

    [row] = DeltaTable(lake_for(settings).table_uri("quarantine", "payments")).to_pyarrow_table(
        columns=["_reasons", "_raw", "_source_line"]
    ).to_pylist()
    assert row["_reasons"] == ["json_depth"]
    assert row["_raw"] == deep.encode() and row["_source_line"] == 2
