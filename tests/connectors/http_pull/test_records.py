"""Bodies that do not match the configured format are refused with the reason; next links to
another origin are refused so the token never leaves the configured API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.http_pull.config import HttpPullConfig
from connectors.http_pull.paginate import Page, PaginationError, make_paginator
from connectors.http_pull.records import BodyError, cell, parse_body


def _parse(body: bytes, fmt: str = "json", record_path: str | None = None) -> list[dict]:
    return parse_body(body, charset=None, fmt=fmt, record_path=record_path)[1]  # type: ignore[arg-type]


def test_json_numbers_keep_their_text_and_big_integers_stay_exact() -> None:
    [record] = _parse(b'[{"a": 1.10, "b": 12345678901234567890123, "c": -0.0}]')
    assert record["a"] == Decimal("1.10")
    assert [cell(record[k]) for k in "abc"] == ["1.10", "12345678901234567890123", "-0.0"]


@pytest.mark.parametrize(
    ("body", "fmt", "record_path", "problem"),
    [
        (b'{"items": {"a": 1}}', "json", "items", "record_path 'items' holds a dict"),
        (b'{"items": [1, 2]}', "json", "items", "record 0 is a int, not an object"),
        (b'{"items": []}', "json", None, "the body (set record_path) holds a dict"),
        (b"[NaN]", "json", None, "NaN is not valid JSON"),
        (b'{"a": 1}\n[1]\n', "ndjson", None, "line 2 is a list, not a JSON object"),
        (b'{"a": 1}\n{oops\n', "ndjson", None, "line 2 is not valid JSON"),
        (b"a,b,a\n1,2,3\n", "csv", None, "CSV header repeats column(s) 'a'"),
        (b"a,b\n1,2,3\n", "csv", None, "CSV line 2 has 3 fields, the header has 2"),
        (b"a\n\xff\xfe\n", "csv", None, "body is not valid utf-8 text"),
    ],
)
def test_a_body_that_does_not_fit_the_config_is_refused(
    body: bytes, fmt: str, record_path: str | None, problem: str
) -> None:
    with pytest.raises(BodyError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        _parse(body, fmt, record_path)


def test_a_null_record_path_or_an_empty_body_is_an_empty_page() -> None:
    assert _parse(b'{"data": {"items": null}}', record_path="data.items") == []
    assert _parse(b"  ", fmt="csv") == []


def test_a_short_csv_row_keeps_missing_cells_as_null() -> None:
    assert _parse(b"a,b,c\n1,2\n", fmt="csv") == [{"a": "1", "b": "2", "c": None}]


def test_a_next_link_to_another_origin_is_refused() -> None:
    cfg = HttpPullConfig.from_dict(
        {
            "name": "s",
            "dataset": "d",
            "url": "http://127.0.0.1:8000/items",
            "pagination": {"type": "next_link", "next_path": "next"},
        }
    )
    paginator = make_paginator(cfg.pagination)
    first = paginator.first(cfg.url, {})
    same = paginator.next(first, Page(url=cfg.url, records=1, body={"next": "/items?after=5"}))
    assert same is not None and same.url == "http://127.0.0.1:8000/items?after=5"
    with pytest.raises(PaginationError, match=r"another origin \(evil.example:80\)"):
        paginator.next(first, Page(url=cfg.url, records=1, body={"next": "http://evil.example/x"}))
