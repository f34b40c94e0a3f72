"""The pull driver's state helpers: the pull key, the log retention read from the table, and when
a cursor is due to be recorded again."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.exceptions import SourceConfigError
from connectors.http_pull import Cursor, PullResult
from lake.delta import Lake, ensure_table
from pipeline.kinds.pull_key import pull_key
from pipeline.kinds.pull_state import CommittedCursor, log_retention, refresh_due

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def test_the_pull_key_is_made_once_owner_only_and_refused_when_others_may_read_it(tmp_path: Path) -> None:
    key = pull_key(tmp_path)
    path = tmp_path / "http_pull" / "pull.key"
    assert len(key) == 32 and pull_key(tmp_path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(SourceConfigError, match=r"may be read or written by others \(mode 644\).*chmod 600"):
        pull_key(tmp_path)


def test_a_description_without_the_right_hmac_is_refused(tmp_path: Path) -> None:
    spool = tmp_path / "s.ndjson"
    spool.write_text("{}\n")
    result = PullResult(source="s", uri="http://x/", since=None, new_cursor=Cursor("1"), spool_path=spool,
                        sha256="0" * 64, size=3, records=1, columns=(), pages=1, requests=1, retries=0)
    result.save(key=b"k" * 32)
    assert PullResult.load(result.sidecar_path, key=b"k" * 32) == result
    with pytest.raises(ValueError, match="HMAC is missing or wrong"):
        PullResult.load(result.sidecar_path, key=b"x" * 32)
    result.save()  # unsigned, as someone without the key would write it
    with pytest.raises(ValueError, match="HMAC is missing or wrong"):
        PullResult.load(result.sidecar_path, key=b"k" * 32)


def test_the_log_retention_comes_from_the_table_property(tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable

    lake = Lake(root=str(tmp_path))
    assert log_retention(lake, "products") == timedelta(days=30)  # no table yet
    uri = lake.table_uri("bronze", "products")
    ensure_table(uri, pa.schema([("id", pa.int64())]), name="bronze_products")
    assert log_retention(lake, "products") == timedelta(days=30)
    DeltaTable(uri).alter.set_table_properties({"delta.logRetentionDuration": "interval 7 days"})
    assert log_retention(lake, "products") == timedelta(days=7)


@pytest.mark.parametrize(
    ("committed", "due"),
    [
        (CommittedCursor(None, "none"), False),
        (CommittedCursor(Cursor("1"), "lake", at=NOW - timedelta(days=9)), False),
        (CommittedCursor(Cursor("1"), "lake", at=NOW - timedelta(days=10)), True),  # a third of 30
        (CommittedCursor(Cursor("1"), "cache"), True),  # the log had lost it: record it again now
    ],
)
def test_a_cursor_is_recorded_again_a_third_of_the_retention_after_its_commit(
    committed: CommittedCursor, due: bool
) -> None:
    assert refresh_due(committed, timedelta(days=30), NOW) is due
