"""Every pagination style reads every record exactly once, in order, and stops by itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.http_pull import HttpPullSource, HttpPullUnreadableError

from .server import FakeApi

pytestmark = pytest.mark.network

Make = Callable[..., HttpPullSource]

STYLES: dict[str, dict[str, Any]] = {
    "pages": {
        "record_path": "data.items",
        "pagination": {
            "type": "page_number",
            "page_param": "page",
            "size_param": "page_size",
            "page_size": 5,
        },
    },
    "offset": {"record_path": "results", "pagination": {"type": "offset", "limit": 5}},
    "cursor": {
        "record_path": "items",
        "pagination": {
            "type": "cursor",
            "cursor_param": "cursor",
            "cursor_path": "meta.next_cursor",
        },
    },
    "links": {
        "record_path": "items",
        "pagination": {"type": "next_link", "next_path": "links.next"},
    },
    "link_header": {"pagination": {"type": "next_link"}},
    "ndjson": {"format": "ndjson", "pagination": {"type": "page_number", "page_size": 5}},
    "csv": {"format": "csv", "pagination": {"type": "offset", "limit": 5}},
}


def _ids(path: Path) -> list[int]:
    return [int(json.loads(line)["id"]) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("endpoint", sorted(STYLES))
def test_each_style_reads_every_record_once_in_order(
    make_source: Make, fake_api: FakeApi, tmp_path: Path, endpoint: str
) -> None:
    fake_api.faults[(endpoint, 2)] = ["500", "429:1"]  # retries must not duplicate a page
    result = make_source(endpoint, **STYLES[endpoint]).fetch(tmp_path)
    assert _ids(result.spool_path) == list(range(1, 24))
    assert result.records == 23
    assert result.retries == 2


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("pages", ["page=1&page_size=5", "page=2&page_size=5", "page=6&page_size=5"]),
        # the next offset adds the records received (23 = 20 + a short page of 3)
        ("offset", ["offset=0&limit=5", "offset=5&limit=5", "offset=23&limit=5"]),
        ("cursor", ["", "cursor=c5", "cursor=c20"]),
        ("links", ["", "after=5", "after=20"]),
    ],
)
def test_the_requests_follow_the_style_and_stop_on_an_empty_page_or_missing_next(
    make_source: Make, fake_api: FakeApi, tmp_path: Path, endpoint: str, expected: list[str]
) -> None:
    make_source(endpoint, **STYLES[endpoint]).fetch(tmp_path)
    sent = fake_api.requests_to(endpoint)
    assert [sent[0], sent[1], sent[-1]] == expected
    # page/offset styles need one empty page to know they are done; cursor/link styles do not
    assert len(sent) == (6 if endpoint in ("pages", "offset") else 5)


def test_the_incremental_parameter_is_sent_on_every_page(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    incremental = {"cursor_field": "updated_at", "param": "updated_since"}
    rereads = {"type": "offset", "limit": 5, "reread_until_stable": True}
    result = make_source(
        "offset", incremental=incremental, **{**STYLES["offset"], "pagination": rereads}
    ).fetch(tmp_path, since="2024-03-01T10:00:00Z")
    assert _ids(result.spool_path) == list(range(11, 24))
    assert all(
        "updated_since=2024-03-01T10%3A00%3A00Z" in q for q in fake_api.requests_to("offset")
    )


def test_a_pagination_loop_is_stopped_by_max_pages(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    config = {
        **STYLES["pages"],
        "pagination": {"type": "page_number", "page_size": 5, "max_pages": 3},
    }
    with pytest.raises(
        HttpPullUnreadableError, match=r"pagination loop: more than pagination.max_pages \(3\)"
    ):
        make_source("pages", **config).fetch(tmp_path / "spool")
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_cursor_that_repeats_is_a_pagination_loop(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.stuck_cursor = True
    with pytest.raises(HttpPullUnreadableError, match="the API sent the same next page twice"):
        make_source("cursor", **STYLES["cursor"]).fetch(tmp_path)
    assert fake_api.requests_to("cursor") == ["", "cursor=c5"]


def test_a_missing_record_path_is_terminal_and_names_it(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    with pytest.raises(
        HttpPullUnreadableError,
        match=r"record_path 'data.rows' is not in the body \(top level has: \['data'\]\)",
    ):
        make_source("pages", record_path="data.rows").fetch(tmp_path)


def test_a_body_in_another_format_is_terminal(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    with pytest.raises(HttpPullUnreadableError, match="body is not valid JSON"):
        make_source("csv", format="json").fetch(tmp_path)
