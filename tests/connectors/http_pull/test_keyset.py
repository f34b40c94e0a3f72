"""Keyset pagination reads every record once by (cursor, id), tolerates an inclusive filter, and
refuses an API that does not order its records as the config says; page numbers re-read until a
pass finds nothing new, or fail retryably."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.exceptions import SourceUnavailableError
from connectors.http_pull import Cursor, HttpPullSource, HttpPullUnreadableError, HttpPullUnstableError

from .server import FakeApi

pytestmark = pytest.mark.network

Make = Callable[..., HttpPullSource]
KEYSET = {
    "record_path": "items",
    "pagination": {"type": "keyset", "page_size": 5},
    "incremental": {
        "cursor_field": "updated_at",
        "param": "updated_since",
        "id_field": "id",
        "id_param": "after_id",
    },
}
REREAD = {
    "record_path": "data.items",
    "pagination": {"type": "page_number", "page_size": 5, "reread_until_stable": True, "max_passes": 3},
    "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
}


def _ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_keyset_asks_for_the_records_after_the_last_one_received(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source("keyset", **KEYSET).fetch(tmp_path, since=Cursor("2024-03-01T02:00:00Z", "2"))
    assert _ids(result.spool_path) == list(range(3, 24))
    sent = fake_api.requests_to("keyset")
    assert sent[0] == "updated_since=2024-03-01T02%3A00%3A00Z&after_id=2&page_size=5"
    assert sent[1] == "updated_since=2024-03-01T07%3A00%3A00Z&after_id=7&page_size=5"
    assert len(sent) == 6 and result.skipped == 0  # 21 records in 5 pages, then an empty one


def test_records_an_inclusive_api_sends_again_are_skipped_not_spooled_twice(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.inclusive = True  # updated_at >= since, after_id ignored: the boundary comes back
    result = make_source("keyset", **KEYSET).fetch(tmp_path, since=Cursor("2024-03-01T02:00:00Z", "2"))
    assert _ids(result.spool_path) == list(range(3, 24))
    # the record at the requested position comes back first on each of the 7 requests; the last
    # request gets only that record, so nothing is after it and the pull stops (no loop)
    assert result.skipped == 7 and len(fake_api.requests_to("keyset")) == 7
    assert result.new_cursor == Cursor("2024-03-01T23:00:00Z", "23")


def test_an_api_that_does_not_sort_by_the_keyset_is_refused(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.unsorted = True
    with pytest.raises(HttpPullUnreadableError, match=r"not in ascending|is not after the one before"):
        make_source("keyset", **KEYSET).fetch(tmp_path / "spool")
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_record_without_its_id_cannot_be_paged_past(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    del fake_api.records[2]["id"]
    with pytest.raises(HttpPullUnreadableError, match="record 2 has no 'id'"):
        make_source("keyset", **KEYSET).fetch(tmp_path)


def test_a_page_numbered_window_is_read_again_until_a_pass_finds_nothing_new(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    result = make_source("pages", **REREAD).fetch(tmp_path)
    assert _ids(result.spool_path) == list(range(1, 24))  # each record once, though read twice
    assert result.passes == 2 and len(fake_api.requests_to("pages")) == 12


def test_a_window_that_never_settles_fails_retryably_and_returns_nothing(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.growing = True
    with pytest.raises(HttpPullUnstableError, match="each of 3 passes") as info:
        make_source("pages", **REREAD).fetch(tmp_path / "spool")
    assert isinstance(info.value, SourceUnavailableError)  # retry the run later
    assert list((tmp_path / "spool").iterdir()) == []
