"""The landing API the sensor uses: pending batches, processed, quarantined, recovered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.http_push import Landing
from connectors.http_push.exceptions import LandingError


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def land(landing: Landing, body: bytes = b"id\n1\n", *, dataset: str = "orders") -> str:
    writer = landing.open_body(
        dataset, content_type="text/csv", gzip=False, max_bytes=1 << 20, max_decoded_bytes=1 << 20
    )
    writer.write(body)
    writer.finish()
    return landing.commit(dataset, writer, content_type="text/csv", caller="p").receipt.batch_id


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "landing", clock=Clock())


def test_pending_lists_complete_batches_oldest_first(landing: Landing) -> None:
    ids = [land(landing) for _ in range(3)]
    assert [b.batch_id for b in landing.pending("orders")] == ids
    assert ids == sorted(ids)
    assert landing.pending("customers") == []


def test_batch_without_a_receipt_is_not_pending(landing: Landing) -> None:
    first, second = land(landing), land(landing)
    (landing.dir("orders") / f"{second}.receipt.json").unlink()
    assert [b.batch_id for b in landing.pending("orders")] == [first]


def test_half_received_upload_in_tmp_is_not_pending(landing: Landing) -> None:
    writer = landing.open_body(
        "orders", content_type="text/csv", gzip=False, max_bytes=100, max_decoded_bytes=100
    )
    writer.write(b"id\n1\n")
    assert landing.pending("orders") == []
    assert landing.recover("orders")["partial_uploads"] == [writer.path.name]
    writer.discard()
    assert not writer.path.exists()


def test_mark_processed_moves_body_and_receipt_with_a_record(landing: Landing) -> None:
    batch_id = land(landing)
    body = landing.pending("orders")[0].path
    moved = landing.mark_processed("orders", batch_id, details={"lake_version": 7})
    processed = landing.dir("orders", "processed")
    assert moved == processed / body.name
    assert moved.read_bytes() == b"id\n1\n"
    assert (processed / f"{batch_id}.receipt.json").exists()
    record = json.loads((processed / f"{batch_id}.processed.json").read_text())
    assert record["details"] == {"lake_version": 7}
    assert record["receipt"]["batch_id"] == batch_id
    assert landing.pending("orders") == []
    assert list(landing.dir("orders").iterdir()) == []


def test_mark_failed_quarantines_the_batch_with_its_error(landing: Landing) -> None:
    batch_id = land(landing)
    landing.mark_failed(
        "orders", batch_id, error="not readable as csv: bad quote", details={"row": 3}
    )
    quarantine = landing.dir("orders", "quarantine")
    error = json.loads((quarantine / f"{batch_id}.error.json").read_text())
    assert error["error"] == "not readable as csv: bad quote"
    assert error["details"] == {"row": 3}
    assert (quarantine / f"{batch_id}.csv").exists()
    assert landing.pending("orders") == []


def test_marking_a_batch_that_is_not_pending_names_where_it_is(landing: Landing) -> None:
    batch_id = land(landing)
    landing.mark_processed("orders", batch_id)
    with pytest.raises(LandingError, match="processed"):
        landing.mark_failed("orders", batch_id, error="late")
    with pytest.raises(LandingError, match="no such batch"):
        landing.mark_processed("orders", "20240101T000000000000Z-deadbeef")
    with pytest.raises(LandingError, match="not a batch id"):
        landing.mark_processed("orders", "../../etc/passwd")


def test_recover_finishes_a_move_interrupted_between_receipt_and_body(landing: Landing) -> None:
    batch_id = land(landing)
    batch = landing.pending("orders")[0]
    processed = landing.dir("orders", "processed")
    processed.mkdir(parents=True)
    # Crash after the receipt moved, before the body did.
    batch.receipt_path.rename(processed / batch.receipt_path.name)
    orphan = land(landing)
    (landing.dir("orders") / f"{orphan}.receipt.json").unlink()
    report = landing.recover("orders")
    assert report["moved"] == [batch.path.name]
    assert report["orphans"] == [f"{orphan}.csv"]
    assert (processed / f"{batch_id}.csv").exists()


def test_receipt_is_fsynced_json_naming_the_stored_bytes(landing: Landing) -> None:
    batch_id = land(landing, b"id\n1\n2\n")
    receipt = json.loads((landing.dir("orders") / f"{batch_id}.receipt.json").read_text())
    assert receipt["bytes"] == 7
    assert receipt["received_at"].endswith("+00:00")
    assert receipt["file"] == f"{batch_id}.csv"
